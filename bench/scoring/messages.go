package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"
)

// The files capture writes and floor reads.
const (
	scoreFile        = "score.pb"         // ScoreResponse, explain off
	scoreExplainFile = "score_explain.pb" // ScoreResponse, explain on
	streamFile       = "stream.pb"        // StreamScoreResponse of a one-item chunk
)

// inlineItem is the benchmark lead as a ScoreItem: 30 numeric attributes,
// no events.
func inlineItem(key string) *leadscorev1.ScoreItem {
	attrs := map[string]*leadscorev1.AttributeValue{}
	for k, v := range benchLead() {
		attrs[k] = &leadscorev1.AttributeValue{Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: v}}
	}
	return &leadscorev1.ScoreItem{
		Key:     key,
		Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: &leadscorev1.InlineLead{Attributes: attrs}},
	}
}

// scoreRequest is the one Score request: the default model's champion.
func scoreRequest(explain bool) *leadscorev1.ScoreRequest {
	return &leadscorev1.ScoreRequest{Item: inlineItem(""), Options: &leadscorev1.ScoreOptions{Explain: explain}}
}

// streamChunks are the first chunk of a stream (with the options) and
// every later one (without), of n items each keyed by their index. A stream
// of many leads sends them as rows of columns declared once, the compact
// form the API has for it.
func streamChunks(n int) (first, rest *leadscorev1.StreamScoreRequest) {
	lead := benchLead()
	keys := slices.Sorted(maps.Keys(lead))
	cols := make([]*leadscorev1.Column, len(keys))
	numbers := make([]float64, len(keys))
	for j, k := range keys {
		cols[j] = &leadscorev1.Column{Attribute: k, Kind: leadscorev1.ColumnKind_COLUMN_KIND_NUMBER}
		numbers[j] = lead[k]
	}
	items := make([]*leadscorev1.ScoreItem, n)
	for i := range items {
		items[i] = &leadscorev1.ScoreItem{Key: "lead-" + strconv.Itoa(i), Subject: &leadscorev1.ScoreItem_Row{Row: &leadscorev1.LeadRow{Numbers: numbers}}}
	}
	return &leadscorev1.StreamScoreRequest{Options: &leadscorev1.ScoreOptions{Columns: cols}, Items: items},
		&leadscorev1.StreamScoreRequest{Items: items}
}

func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// waitServing waits until addr reports service SERVING.
func waitServing(ctx context.Context, conn *grpc.ClientConn, service string) error {
	hc := healthpb.NewHealthClient(conn)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := hc.Check(cctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%q is not SERVING (last: %v, %v): %w", service, resp.GetStatus(), err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wait blocks until a server reports a service SERVING.
func wait(args []string) error {
	fs := flag.NewFlagSet("wait", flag.ExitOnError)
	addr := fs.String("addr", "", "the server's gRPC address")
	service := fs.String("service", "", "the health service name to wait for")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := dial(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	return waitServing(ctx, conn, *service)
}

// capture saves leadscore's real responses for the floor to return.
func capture(args []string) error {
	fs := flag.NewFlagSet("capture", flag.ExitOnError)
	addr := fs.String("addr", "", "leadscore's gRPC address")
	dir := fs.String("dir", "", "the directory to write the captured messages to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conn, err := dial(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := waitServing(ctx, conn, leadscorev1.ScoringService_ServiceDesc.ServiceName); err != nil {
		return err
	}
	client := leadscorev1.NewScoringServiceClient(conn)
	for _, explain := range []bool{false, true} {
		resp, err := client.Score(ctx, scoreRequest(explain))
		if err != nil {
			return fmt.Errorf("score (explain %v): %w", explain, err)
		}
		if len(resp.GetUnknownAttributes()) > 0 {
			return fmt.Errorf("the model does not read %v: it is not the 30-feature model", resp.GetUnknownAttributes())
		}
		name := scoreFile
		if explain {
			name = scoreExplainFile
		}
		if err := save(filepath.Join(*dir, name), resp); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "captured Score (explain %v): %d bytes, %s probability %.4f, %d factors\n",
			explain, proto.Size(resp), resp.GetScore().GetModelVersion(), resp.GetScore().GetProbability(), len(resp.GetScore().GetFactors()))
	}
	stream, err := client.StreamScore(ctx)
	if err != nil {
		return err
	}
	first, _ := streamChunks(1)
	if err := stream.Send(first); err != nil {
		return err
	}
	resp, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("stream score: %w", err)
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	if len(resp.GetResults()) != 1 || resp.GetResults()[0].GetScore() == nil {
		return fmt.Errorf("stream score: want one scored result, got %v", resp)
	}
	fmt.Fprintf(os.Stderr, "captured StreamScore result: %d bytes per item\n", proto.Size(resp.GetResults()[0]))
	return save(filepath.Join(*dir, streamFile), resp)
}

func save(path string, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func read(path string, m proto.Message) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return proto.Unmarshal(b, m)
}
