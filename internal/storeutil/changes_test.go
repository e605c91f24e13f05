package storeutil

import (
	"errors"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

func TestPruneCutoff(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 1, 12, 0, 0, 1000, time.UTC) // 12:00:00.000001
	tests := []struct {
		name   string
		before time.Time
		want   time.Time
	}{
		{"a whole microsecond stays", at, at},
		{"a fraction rounds up to the next microsecond", at.Add(500), at.Add(time.Microsecond)},
		{"another zone is compared in UTC", at.In(time.FixedZone("x", 3600)), at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := PruneCutoff(tt.before)
			if err != nil || !got.Equal(tt.want) || got.Location() != time.UTC {
				t.Errorf("PruneCutoff(%v) = %v, %v; want %v in UTC", tt.before, got, err, tt.want)
			}
		})
	}
	t.Run("zero time is refused naming before", func(t *testing.T) {
		t.Parallel()
		_, err := PruneCutoff(time.Time{})
		var e *leadscore.Error
		if leadscore.ErrorCode(err) != leadscore.EINVALID || !errors.As(err, &e) || len(e.Fields) != 1 || e.Fields[0].Field != "before" {
			t.Errorf("PruneCutoff(zero) = %v, want EINVALID naming before", err)
		}
	})
}
