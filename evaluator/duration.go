package evaluator

import (
	"encoding/json"
	"time"

	"github.com/leadscore/leadscore"
)

// MarshalJSON writes the duration as a Go duration string, such as
// "2160h0m0s", which people can read and time.ParseDuration reads back.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a Go duration string. A bare number is refused: it
// would be ambiguous between seconds and nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return leadscore.InvalidField("duration", string(b), `must be a duration string such as "2160h0m0s"`)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return leadscore.InvalidField("duration", s, `must be a duration string such as "2160h0m0s"`)
	}
	*d = Duration(v)
	return nil
}
