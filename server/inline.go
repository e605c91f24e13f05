package server

import (
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// InlineLead returns a lead and its events before at as the inline lead of
// a scoring request: what a client holding domain records (a history, a
// CRM sync) sends to score the lead as of at. Missing attributes are left
// out, as the API asks.
func InlineLead(l leadscore.Lead, events []leadscore.Event, at time.Time) *leadscorev1.InlineLead {
	out := &leadscorev1.InlineLead{Attributes: make(map[string]*leadscorev1.AttributeValue, len(l.Attributes))}
	if !l.CreatedAt.IsZero() {
		out.CreateTime = timestamppb.New(l.CreatedAt)
	}
	if l.AccountID != "" {
		out.Account = leadscore.AccountName(l.AccountID)
	}
	for k, v := range l.Attributes {
		if pv := attributeProto(v); pv != nil {
			out.Attributes[k] = pv
		}
	}
	for _, e := range events {
		if e.OccurredAt.Before(at) {
			out.Events = append(out.Events, &leadscorev1.Event{
				EventId: e.ID, Type: e.Type, OccurTime: timestamppb.New(e.OccurredAt), Properties: e.Properties,
			})
		}
	}
	return out
}

// attributeProto converts a value; nil for a missing one.
func attributeProto(v leadscore.Value) *leadscorev1.AttributeValue {
	switch v.Kind {
	case leadscore.KindString:
		return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_StringValue{StringValue: v.Str}}
	case leadscore.KindNumber:
		return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: v.Num}}
	case leadscore.KindBool:
		return &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_BoolValue{BoolValue: v.Bool}}
	}
	return nil
}
