package httpapi

import (
	_ "embed"
	"net/http"
)

// openapiJSON is the hand-written OpenAPI 3 description of the routes.
// TestOpenAPIDescribesEveryRoute keeps it and the route table in step.
//
//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openapi(w http.ResponseWriter, r *http.Request) error {
	writeBytes(w, http.StatusOK, "application/json", openapiJSON)
	return nil
}
