package dashboard

import (
	"encoding/base64"

	"github.com/gofiber/fiber/v2"
)

// checkHandshakeHeaders refuses with 400 an upgrade whose Sec-WebSocket-Key
// is not the base64 of 16 bytes or whose Sec-WebSocket-Version is not 13
// (RFC 6455 §4.2.1; §4.2.2 asks to name the version we speak). The
// websocket library accepts any key and hashes it.
func checkHandshakeHeaders(c *fiber.Ctx) error {
	if v := c.Get(fiber.HeaderSecWebSocketVersion); v != "13" {
		c.Set(fiber.HeaderSecWebSocketVersion, "13")
		return fiber.NewError(fiber.StatusBadRequest, "Sec-WebSocket-Version must be 13")
	}
	key := c.Get(fiber.HeaderSecWebSocketKey)
	if raw, err := base64.StdEncoding.Strict().DecodeString(key); err != nil || len(raw) != 16 || len(key) != 24 {
		return fiber.NewError(fiber.StatusBadRequest, "Sec-WebSocket-Key must be the base64 of 16 bytes")
	}
	return nil
}
