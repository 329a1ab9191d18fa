package hub

// Event is one server event, encoded once and shared read-only by every
// subscriber's queue. Nothing may modify an Event after it is delivered.
type Event struct {
	// Channel is the literal channel the event belongs to; conflation and
	// presence key on it.
	Channel string
	// Seq is the stream sequence of a persisted event, 0 otherwise. A
	// subscription drops events whose Seq is not above the last it sent, so
	// replay and live delivery join with no duplicate.
	Seq uint64
	// Droppable events may be conflated to the latest per channel.
	Droppable bool
	// Frame is the encoded JSON object, without a trailing newline.
	Frame []byte
	// Received is when the gateway took the event from NATS (unix
	// nanoseconds), for the fan-out delay metric; 0 for events it made.
	Received int64
}

// size is what an event costs a queue: the frame and its separator.
func (e *Event) size() int { return len(e.Frame) + 1 }
