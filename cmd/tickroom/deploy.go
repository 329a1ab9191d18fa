package main

import (
	"time"

	"github.com/tickroom/tickroom/internal/config"
	"github.com/tickroom/tickroom/internal/natsbus"
)

// Deployment settings copied from config into the parts' own structs.

// deployBusConfig fills the bus's retention, stream-update and access
// settings.
func deployBusConfig(bc *natsbus.Config, cfg config.Config) {
	bc.Retention = busRetention(cfg.Retention)
	bc.UpdateStreams = cfg.NATSUpdateStreams
	bc.Access = busAccess(cfg.NATSAccess)
}

// busRetention maps config's "0 = no limit" to natsbus's "negative = no
// limit" (natsbus reads 0 as "its default").
func busRetention(r config.Retention) natsbus.Retention {
	age := func(d time.Duration) time.Duration {
		if d == 0 {
			return -1
		}
		return d
	}
	count := func(n int) int64 {
		if n == 0 {
			return -1
		}
		return int64(n)
	}
	return natsbus.Retention{
		ChatMaxAge: age(r.ChatMaxAge), ChatMaxMsgs: count(r.ChatMaxMsgs),
		AlertMaxAge: age(r.AlertMaxAge), AlertMaxMsgs: count(r.AlertMaxMsgs),
		CandleMaxAge: age(r.CandleMaxAge), CandleMaxMsgs: count(r.CandleMaxMsgs),
		FeedMaxAge: age(r.FeedMaxAge), FeedMaxMsgs: count(r.FeedMaxMsgs),
		UserMaxAge: age(r.UserMaxAge), UserMaxMsgs: count(r.UserMaxMsgs),
	}
}

// busAccess is how the bus authenticates to external NATS.
func busAccess(a config.NATSAccess) natsbus.Access {
	return natsbus.Access{
		Token: a.Token, User: a.User, Password: a.Password,
		CredsFile: a.CredsFile, NKeySeedFile: a.NKeyFile,
		TLSCA: a.TLSCA, TLSCert: a.TLSCert, TLSKey: a.TLSKey,
	}
}
