package protocol

import "strconv"

// Error codes a reply may carry.
const (
	CodeBadRequest  = "bad_request"
	CodeUnknownOp   = "unknown_op"
	CodeForbidden   = "forbidden"
	CodeNotFound    = "not_found"
	CodeTooLarge    = "too_large"
	CodeRateLimited = "rate_limited"
	CodeUnavailable = "unavailable"
	CodeInternal    = "internal"
)

// Error is a request failure sent to the client in a reply. It is an error so
// handlers can return it; the code is part of the contract, the message is
// for humans.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf-free constructors keep call sites short and codes consistent.
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }

// WebSocket close codes used by the gateway.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseUnsupportedData = 1003
	ClosePolicy          = 1008
	CloseTooLarge        = 1009
	CloseInternal        = 1011
	CloseTryAgainLater   = 1013
	CloseSlowConsumer    = 4000
)

// Close is a reason to end a connection. It is an error so it can travel up
// a read or write loop and be turned into a close frame in one place.
type Close struct {
	Code   int
	Reason string
}

func (c *Close) Error() string { return "close " + strconv.Itoa(c.Code) + ": " + c.Reason }
