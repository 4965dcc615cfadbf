package master

import "errors"

// Error categories. Handlers wrap them with %w and context; the HTTP layer
// maps them to status codes (mapError) and nothing below it knows about HTTP.
var (
	// ErrNotLeader: this master does not lead; the caller should go to the
	// leader (307) or retry later (503 when no leader is known).
	ErrNotLeader = errors.New("not the leading master")
	// ErrInvalid: the request is malformed or fails validation (400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnknownFramework: a non-SUBSCRIBE call names a framework the master
	// does not know (400 "Framework cannot be found").
	ErrUnknownFramework = errors.New("framework cannot be found")
	// ErrNotSubscribed: the framework is known but has no subscription (403).
	ErrNotSubscribed = errors.New("framework is not subscribed")
	// ErrUnavailable: the master cannot serve now (stopping, recovering; 503).
	ErrUnavailable = errors.New("master unavailable")
	// ErrUnknownAgentStream: an agent call on a stream the master does not
	// know; the agent must re-subscribe (403).
	ErrUnknownAgentStream = errors.New("unknown agent stream")
)
