package llm

import "testing"

func TestStatusForTypeInvertsTypeForStatus(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 413, 429, 529, 504, 500} {
		if got := StatusForType(TypeForStatus(status)); got != status {
			t.Errorf("status %d -> %s -> %d", status, TypeForStatus(status), got)
		}
	}
	if StatusForType("something_new") != 500 {
		t.Error("unknown type not 500")
	}
}

func TestErrorFromEvent(t *testing.T) {
	cases := []struct {
		data      string
		status    int
		typ       string
		retryable bool
	}{
		{`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`, 529, ErrOverloaded, true},
		{`{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}`, 400, ErrInvalidRequest, false},
		{`{"type":"error"}`, 500, ErrAPI, true},
	}
	for _, c := range cases {
		e := ErrorFromEvent([]byte(c.data))
		if e.Status != c.status || e.Type != c.typ || e.Retryable != c.retryable || string(e.Body) != c.data {
			t.Errorf("%s: %+v", c.data, e)
		}
	}
}
