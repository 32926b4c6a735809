package modelserver

import (
	"errors"
	"fmt"
	"net/http"

	"google.golang.org/grpc/codes"

	"github.com/skiff-dev/skiff/internal/model"
	"github.com/skiff-dev/skiff/internal/modelrepo"
)

// kind classifies a failed request for the status code and the metrics.
type kind int

const (
	kindInternal kind = iota
	kindBadRequest
	kindNotFound
	kindNotReady
	kindTooLarge
)

// apiError is a request refused with a message that says what was wrong.
type apiError struct {
	kind kind
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{kind: kindBadRequest, msg: fmt.Sprintf(format, args...)}
}

// classify maps any error from decoding, lookup or prediction to its kind.
func classify(err error) kind {
	var api *apiError
	switch {
	case errors.As(err, &api):
		return api.kind
	case errors.Is(err, model.ErrInput):
		return kindBadRequest
	case errors.Is(err, modelrepo.ErrModelNotFound), errors.Is(err, modelrepo.ErrVersionNotFound):
		return kindNotFound
	case errors.Is(err, modelrepo.ErrNotReady):
		return kindNotReady
	}
	return kindInternal
}

func (k kind) httpStatus() int {
	return [...]int{http.StatusInternalServerError, http.StatusBadRequest, http.StatusNotFound, http.StatusServiceUnavailable, http.StatusRequestEntityTooLarge}[k]
}

func (k kind) grpcCode() codes.Code {
	return [...]codes.Code{codes.Internal, codes.InvalidArgument, codes.NotFound, codes.Unavailable, codes.ResourceExhausted}[k]
}

// reason is the metrics label for a failure.
func (k kind) reason() string {
	return [...]string{"internal", "bad_request", "not_found", "not_ready", "too_large"}[k]
}
