package postgres_test

import (
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/storetest"
)

func TestLeadsConformance(t *testing.T) {
	t.Parallel()
	storetest.RunLeads(t, func(t *testing.T) leadscore.LeadStore {
		return pgtest.Open(t)
	})
}
