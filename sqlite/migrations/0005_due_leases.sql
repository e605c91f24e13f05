-- Leases of due leads, so that several servers sharing the database rescore
-- each due lead once (leadscore.LeadStore.ClaimDueLeads). The PostgreSQL
-- twin (postgres/migrations/0005_due_leases.sql) makes the same change;
-- storetest/testdata/schema.golden keeps the two in step.

-- leased_until is when the lease of the server that claimed a due lead for
-- rescoring ends, in microseconds since the epoch like every time here:
-- until then no other claim takes the lead. NULL when the lead is not
-- leased, as every lead is before this migration; a saved score and
-- MarkAllDue set it back to NULL. Claims read due leads through the
-- partial index on (due_at, id) and pass over the leased ones, no more
-- than the batches being rescored, so leased_until needs no index of its
-- own.
ALTER TABLE leads ADD COLUMN leased_until INTEGER;
