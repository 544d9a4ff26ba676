package app

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ShutdownGrace bounds how long in-flight triggers may take after SIGTERM.
const ShutdownGrace = 25 * time.Second

// Serve serves h on ln until ctx ends, then stops accepting and lets
// in-flight requests finish within ShutdownGrace.
func Serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute, // a body that trickles in does not hold a connection forever
		IdleTimeout:       2 * time.Minute,
		// In-flight triggers outlive the signal: their contexts are not
		// cancelled when shutdown starts, only bounded by the grace period.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
