package dataset

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// History is an organisation's lead history in columnar form: the leads
// with their attributes, their events grouped by lead and sorted by time,
// and their outcomes. Columns keep a million leads with tens of millions of
// events in a few bytes per value rather than in a struct per record.
// A History is immutable once built and safe for concurrent readers.
type History struct {
	ids      []string
	index    map[string]int32
	accounts []string
	owners   []string
	created  []int64 // Unix seconds
	attrs    []attrColumn

	// Events of lead i are [evStart[i], evStart[i+1]), oldest first, with
	// duplicate ids removed (the first copy added kept).
	evStart []int
	evTime  []int64 // Unix seconds
	evType  []uint16
	types   []string
	props   []propColumn

	outStatus []leadscore.OutcomeStatus
	outTime   []int64
	outAmount []float64
	outCurr   []string

	first, last int64 // the earliest and latest time in the history
}

// attrColumn is one attribute across all leads.
type attrColumn struct {
	key  string
	kind leadscore.ValueKind
	// present marks leads that have a value.
	present []bool
	nums    []float64
	codes   []uint32 // string values, index into dict
	dict    []string
	bools   []bool
}

// propColumn is one event property across all events; code 0 means the
// event does not have the property.
type propColumn struct {
	name  string
	codes []uint32
	dict  []string // dict[0] is ""
}

// HistoryBuilder assembles a History from records in any order: leads
// first, then events and outcomes of known leads. It validates every record
// and names the offending one in its error.
type HistoryBuilder struct {
	h        History
	attrIdx  map[string]int
	typeIdx  map[string]uint16
	propIdx  map[string]int
	dictIdx  []map[string]uint32 // per attribute column
	propDict []map[string]uint32 // per property column

	// Events are accumulated in fixed-size blocks rather than growing
	// slices: appending never copies, so a history of tens of millions of
	// events needs their size once, not up to three times, while loading.
	evLead  chunks[int32]
	evID    chunks[uint64]
	evTime  chunks[int64]
	evType  chunks[uint16]
	evProps []chunks[uint32] // parallel to h.props
	events  int
}

// NewHistoryBuilder returns an empty builder.
func NewHistoryBuilder() *HistoryBuilder {
	return &HistoryBuilder{
		h:       History{index: map[string]int32{}, first: math.MaxInt64, last: math.MinInt64},
		attrIdx: map[string]int{},
		typeIdx: map[string]uint16{},
		propIdx: map[string]int{},
	}
}

// AddLead adds a lead. A second lead with the same id, or an attribute
// whose kind differs from earlier leads', is an error.
func (b *HistoryBuilder) AddLead(l leadscore.Lead) error {
	if err := leadscore.ValidateID("lead id", l.ID); err != nil {
		return err
	}
	if _, dup := b.h.index[l.ID]; dup {
		return leadscore.InvalidField("lead id", l.ID, "appears twice")
	}
	if l.CreatedAt.IsZero() {
		return leadscore.InvalidField("lead "+l.ID+" created_at", "", "is required")
	}
	n := len(b.h.ids)
	if n >= math.MaxInt32 {
		return leadscore.Errorf(leadscore.EINVALID, "history holds at most %d leads", math.MaxInt32)
	}
	b.h.index[l.ID] = int32(n)
	b.h.ids = append(b.h.ids, l.ID)
	b.h.accounts = append(b.h.accounts, l.AccountID)
	b.h.owners = append(b.h.owners, l.Owner)
	created := l.CreatedAt.Unix()
	b.h.created = append(b.h.created, created)
	b.observe(created)
	b.h.outStatus = append(b.h.outStatus, leadscore.OutcomeUnknown)
	b.h.outTime = append(b.h.outTime, 0)
	b.h.outAmount = append(b.h.outAmount, 0)
	b.h.outCurr = append(b.h.outCurr, "")

	for key, v := range l.Attributes {
		if v.Missing() {
			continue
		}
		field := "lead " + l.ID + " attributes." + key
		if err := leadscore.ValidateKey(field, key); err != nil {
			return err
		}
		if err := v.Validate(field); err != nil {
			return err
		}
		c, ok := b.attrIdx[key]
		if !ok {
			c = len(b.h.attrs)
			b.attrIdx[key] = c
			b.h.attrs = append(b.h.attrs, attrColumn{key: key, kind: v.Kind})
			b.dictIdx = append(b.dictIdx, map[string]uint32{})
		}
		col := &b.h.attrs[c]
		if col.kind != v.Kind {
			return leadscore.InvalidField(field, v.Format(), fmt.Sprintf("is a %s but earlier leads have a %s", v.Kind, col.kind))
		}
		col.grow(n + 1)
		col.present[n] = true
		switch v.Kind {
		case leadscore.KindNumber:
			col.nums[n] = v.Num
		case leadscore.KindBool:
			col.bools[n] = v.Bool
		default:
			code, ok := b.dictIdx[c][v.Str]
			if !ok {
				code = uint32(len(col.dict))
				col.dict = append(col.dict, v.Str)
				b.dictIdx[c][v.Str] = code
			}
			col.codes[n] = code
		}
	}
	return nil
}

// grow extends a column to n leads; leads without a value are not present.
func (c *attrColumn) grow(n int) {
	if len(c.present) >= n {
		return
	}
	c.present = slices.Grow(c.present, n-len(c.present))[:n]
	switch c.kind {
	case leadscore.KindNumber:
		c.nums = slices.Grow(c.nums, n-len(c.nums))[:n]
	case leadscore.KindBool:
		c.bools = slices.Grow(c.bools, n-len(c.bools))[:n]
	default:
		c.codes = slices.Grow(c.codes, n-len(c.codes))[:n]
	}
}

// AddEvent adds an event of a lead added before.
func (b *HistoryBuilder) AddEvent(e leadscore.Event) error {
	if err := leadscore.ValidateID("event id", e.ID); err != nil {
		return err
	}
	lead, ok := b.h.index[e.LeadID]
	if !ok {
		return leadscore.InvalidField("event "+e.ID+" lead_id", e.LeadID, "is not a known lead")
	}
	if err := leadscore.ValidateKey("event "+e.ID+" type", e.Type); err != nil {
		return err
	}
	if e.OccurredAt.IsZero() {
		return leadscore.InvalidField("event "+e.ID+" occurred_at", "", "is required")
	}
	t, ok := b.typeIdx[e.Type]
	if !ok {
		if len(b.h.types) >= math.MaxUint16 {
			return leadscore.InvalidField("event "+e.ID+" type", e.Type, "exceeds the number of distinct event types a history holds")
		}
		t = uint16(len(b.h.types))
		b.typeIdx[e.Type] = t
		b.h.types = append(b.h.types, e.Type)
	}
	// The span observes only the events Build keeps, so a dropped re-sent
	// copy cannot widen it.
	at := e.OccurredAt.Unix()
	b.evLead.append(lead)
	b.evID.append(idHash(e.ID))
	b.evTime.append(at)
	b.evType.append(t)
	for name, value := range e.Properties {
		if value == "" {
			continue
		}
		p, ok := b.propIdx[name]
		if !ok {
			p = len(b.h.props)
			b.propIdx[name] = p
			b.h.props = append(b.h.props, propColumn{name: name, dict: []string{""}})
			b.propDict = append(b.propDict, map[string]uint32{"": 0})
			b.evProps = append(b.evProps, chunks[uint32]{})
		}
		col := &b.h.props[p]
		code, ok := b.propDict[p][value]
		if !ok {
			code = uint32(len(col.dict))
			col.dict = append(col.dict, value)
			b.propDict[p][value] = code
		}
		b.evProps[p].set(b.events, code)
	}
	b.events++
	return nil
}

// AddOutcome adds the outcome of a lead added before. When a lead has
// several, the latest wins, as when a lost lead is later won.
func (b *HistoryBuilder) AddOutcome(o leadscore.Outcome) error {
	lead, ok := b.h.index[o.LeadID]
	if !ok {
		return leadscore.InvalidField("outcome lead_id", o.LeadID, "is not a known lead")
	}
	if o.Status != leadscore.OutcomeWon && o.Status != leadscore.OutcomeLost {
		return leadscore.InvalidField("outcome of "+o.LeadID+" status", o.Status, `must be "won" or "lost"`)
	}
	if o.OccurredAt.IsZero() {
		return leadscore.InvalidField("outcome of "+o.LeadID+" occurred_at", "", "is required")
	}
	if math.IsNaN(o.Amount) || math.IsInf(o.Amount, 0) || o.Amount < 0 {
		return leadscore.InvalidField("outcome of "+o.LeadID+" amount", o.Amount, "must be a finite number, zero or more")
	}
	at := o.OccurredAt.Unix()
	if b.h.outStatus[lead] != leadscore.OutcomeUnknown && b.h.outTime[lead] > at {
		return nil
	}
	b.observe(at)
	b.h.outStatus[lead] = o.Status
	b.h.outTime[lead] = at
	b.h.outAmount[lead] = o.Amount
	b.h.outCurr[lead] = o.Currency
	return nil
}

func (b *HistoryBuilder) observe(t int64) {
	b.h.first = min(b.h.first, t)
	b.h.last = max(b.h.last, t)
}

// Build groups the events by lead, sorts them by time and removes
// duplicate event ids, keeping each id's first copy in the order the
// events were added: a copy recorded later (a re-sent event) never changes
// what was recorded first, even when it claims an earlier time. The stores
// import by the same rule, so a history read back from a store equals the
// one read from the files it was imported from. The builder must not be
// used afterwards.
func (b *HistoryBuilder) Build() (*History, error) {
	h := &b.h
	n := len(h.ids)
	for i := range h.attrs {
		h.attrs[i].grow(n)
	}
	slices.SortFunc(h.attrs, func(a, b attrColumn) int { return cmp.Compare(a.key, b.key) })

	// Counting sort of events by lead, then per lead by (id, time) to drop
	// duplicates, then by (time, type, id) for a deterministic order.
	start := make([]int, n+1)
	b.evLead.each(func(_ int, l int32) { start[l+1]++ })
	for i := 1; i <= n; i++ {
		start[i] += start[i-1]
	}
	pos := slices.Clone(start[:n])
	order := make([]int32, b.events)
	b.evLead.each(func(e int, l int32) {
		order[pos[l]] = int32(e)
		pos[l]++
	})
	b.evLead = chunks[int32]{}
	kept := order[:0]
	newStart := make([]int, n+1)
	for l := 0; l < n; l++ {
		seg := order[start[l]:start[l+1]]
		sort.Slice(seg, func(i, j int) bool {
			a, c := int(seg[i]), int(seg[j])
			if ia, ic := b.evID.at(a), b.evID.at(c); ia != ic {
				return ia < ic
			}
			return a < c // source order: the first copy is kept
		})
		from := len(kept)
		for i, e := range seg {
			if i > 0 && b.evID.at(int(e)) == b.evID.at(int(seg[i-1])) {
				continue
			}
			kept = append(kept, e)
		}
		seg = kept[from:]
		sort.Slice(seg, func(i, j int) bool {
			a, c := int(seg[i]), int(seg[j])
			if ta, tc := b.evTime.at(a), b.evTime.at(c); ta != tc {
				return ta < tc
			}
			if ya, yc := b.evType.at(a), b.evType.at(c); ya != yc {
				return h.types[ya] < h.types[yc]
			}
			return b.evID.at(a) < b.evID.at(c)
		})
		newStart[l+1] = len(kept)
	}
	h.evStart = newStart
	for _, e := range kept {
		b.observe(b.evTime.at(int(e)))
	}
	// Each column is gathered into its final order and its blocks dropped
	// before the next, so only one column exists twice at any moment.
	h.evTime = b.evTime.gather(kept)
	b.evTime = chunks[int64]{}
	h.evType = b.evType.gather(kept)
	b.evType = chunks[uint16]{}
	b.evID = chunks[uint64]{}
	for i := range h.props {
		b.evProps[i].pad(b.events)
		h.props[i].codes = b.evProps[i].gather(kept)
		b.evProps[i] = chunks[uint32]{}
	}
	slices.SortFunc(h.props, func(a, b propColumn) int { return cmp.Compare(a.name, b.name) })
	if n == 0 {
		h.first, h.last = 0, 0
	}
	return h, nil
}

// chunkBits sets the block size of chunks: 64Ki values per block.
const chunkBits = 16

// chunks is an append-only column in fixed-size blocks.
type chunks[T any] struct {
	blocks [][]T
	n      int
}

func (c *chunks[T]) append(v T) {
	if c.n&(1<<chunkBits-1) == 0 {
		c.blocks = append(c.blocks, make([]T, 0, 1<<chunkBits))
	}
	last := &c.blocks[len(c.blocks)-1]
	*last = append(*last, v)
	c.n++
}

// set stores v at index i, padding with zero values up to it.
func (c *chunks[T]) set(i int, v T) {
	var zero T
	for c.n < i {
		c.append(zero)
	}
	if c.n == i {
		c.append(v)
		return
	}
	c.blocks[i>>chunkBits][i&(1<<chunkBits-1)] = v
}

// pad extends the column with zero values to n.
func (c *chunks[T]) pad(n int) {
	var zero T
	for c.n < n {
		c.append(zero)
	}
}

func (c *chunks[T]) at(i int) T { return c.blocks[i>>chunkBits][i&(1<<chunkBits-1)] }

func (c *chunks[T]) each(fn func(i int, v T)) {
	i := 0
	for _, b := range c.blocks {
		for _, v := range b {
			fn(i, v)
			i++
		}
	}
}

// gather returns the values at the given indexes, in order.
func (c *chunks[T]) gather(order []int32) []T {
	out := make([]T, len(order))
	for i, j := range order {
		out[i] = c.at(int(j))
	}
	return out
}

// idHash is the 64-bit FNV-1a hash of an event id. It is deterministic, so
// that events with equal times are ordered the same way in every run.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// Len is the number of leads.
func (h *History) Len() int { return len(h.ids) }

// EventCount is the number of events after de-duplication.
func (h *History) EventCount() int { return len(h.evTime) }

// LeadID returns the id of lead i.
func (h *History) LeadID(i int) string { return h.ids[i] }

// LeadIndex returns the index of the lead with the given id.
func (h *History) LeadIndex(id string) (int, bool) {
	i, ok := h.index[id]
	return int(i), ok
}

// AccountID returns the account id of lead i, or "".
func (h *History) AccountID(i int) string { return h.accounts[i] }

// Created returns when lead i was created.
func (h *History) Created(i int) time.Time { return time.Unix(h.created[i], 0).UTC() }

// Outcome returns lead i's outcome status and time; OutcomeUnknown when
// the lead is still open.
func (h *History) Outcome(i int) (leadscore.OutcomeStatus, time.Time) {
	if h.outStatus[i] == leadscore.OutcomeUnknown {
		return leadscore.OutcomeUnknown, time.Time{}
	}
	return h.outStatus[i], time.Unix(h.outTime[i], 0).UTC()
}

// Span returns the earliest and the latest time anywhere in the history.
func (h *History) Span() (first, last time.Time) {
	return time.Unix(h.first, 0).UTC(), time.Unix(h.last, 0).UTC()
}

// Attribute returns lead i's value of an attribute; missing when the lead
// has none or the attribute does not exist.
func (h *History) Attribute(i int, key string) leadscore.Value {
	c := h.attrColumn(key)
	if c == nil {
		return leadscore.Value{}
	}
	return c.value(i)
}

func (h *History) attrColumn(key string) *attrColumn {
	j, ok := slices.BinarySearchFunc(h.attrs, key, func(c attrColumn, k string) int { return cmp.Compare(c.key, k) })
	if !ok {
		return nil
	}
	return &h.attrs[j]
}

func (c *attrColumn) value(i int) leadscore.Value {
	if !c.present[i] {
		return leadscore.Value{}
	}
	switch c.kind {
	case leadscore.KindNumber:
		return leadscore.Number(c.nums[i])
	case leadscore.KindBool:
		return leadscore.Bool(c.bools[i])
	default:
		return leadscore.String(c.dict[c.codes[i]])
	}
}

// Lead returns lead i as a domain record.
func (h *History) Lead(i int) leadscore.Lead {
	l := leadscore.Lead{
		ID:         h.ids[i],
		AccountID:  h.accounts[i],
		Owner:      h.owners[i],
		CreatedAt:  h.Created(i),
		Attributes: map[string]leadscore.Value{},
	}
	for c := range h.attrs {
		if v := h.attrs[c].value(i); !v.Missing() {
			l.Attributes[h.attrs[c].key] = v
		}
	}
	return l
}

// Events returns lead i's events as domain records, oldest first. Event ids
// are not kept in the columnar form, so the records carry none.
func (h *History) Events(i int) []leadscore.Event {
	var out []leadscore.Event
	for e := h.evStart[i]; e < h.evStart[i+1]; e++ {
		ev := leadscore.Event{LeadID: h.ids[i], Type: h.types[h.evType[e]], OccurredAt: time.Unix(h.evTime[e], 0).UTC()}
		for _, p := range h.props {
			if code := p.codes[e]; code != 0 {
				if ev.Properties == nil {
					ev.Properties = map[string]string{}
				}
				ev.Properties[p.name] = p.dict[code]
			}
		}
		out = append(out, ev)
	}
	return out
}

// LearnSpec learns a feature spec from the leads created before cutoff and
// the events before it, so that nothing from a test period shapes the
// features of a model trained before it.
func (h *History) LearnSpec(opts model.SpecOptions, cutoff time.Time) (*model.FeatureSpec, error) {
	b := model.NewSpecBuilder(opts)
	limit := cutoff.Unix()
	attrs := map[string]leadscore.Value{}
	for i := range h.ids {
		if h.created[i] >= limit {
			continue
		}
		clear(attrs)
		for c := range h.attrs {
			if v := h.attrs[c].value(i); !v.Missing() {
				attrs[h.attrs[c].key] = v
			}
		}
		if err := b.ObserveLead(attrs); err != nil {
			return nil, fmt.Errorf("learn feature spec from lead %s: %w", h.ids[i], err)
		}
		for e := h.evStart[i]; e < h.evStart[i+1]; e++ {
			if h.evTime[e] >= limit {
				break
			}
			b.ObserveEvent(h.types[h.evType[e]], h.propertyLookup(e))
		}
	}
	return b.Build()
}

// propertyLookup returns a function reading event e's properties.
func (h *History) propertyLookup(e int) func(string) string {
	return func(name string) string {
		j, ok := slices.BinarySearchFunc(h.props, name, func(c propColumn, k string) int { return cmp.Compare(c.name, k) })
		if !ok {
			return ""
		}
		return h.props[j].dict[h.props[j].codes[e]]
	}
}
