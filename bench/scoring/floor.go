package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	_ "net/http/pprof" // the profile command reads /debug/pprof from -pprof-addr
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// floorService is the least a ScoringService can do: Score returns one of
// two fixed responses and StreamScore answers each item with a fixed result
// under the item's key. What it sends is what leadscore sent (captured), so
// the wire and marshal work is the same and the difference is leadscore's
// own.
type floorService struct {
	leadscorev1.UnimplementedScoringServiceServer
	score, explained *leadscorev1.ScoreResponse
	result           *leadscorev1.ScoreItemResult
	modelVersion     string
	alias            string
}

func (f *floorService) Score(_ context.Context, req *leadscorev1.ScoreRequest) (*leadscorev1.ScoreResponse, error) {
	if req.GetOptions().GetExplain() {
		return f.explained, nil
	}
	return f.score, nil
}

func (f *floorService) StreamScore(stream leadscorev1.ScoringService_StreamScoreServer) error {
	for chunk := int64(0); ; chunk++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		items := req.GetItems()
		results := make([]leadscorev1.ScoreItemResult, len(items))
		out := make([]*leadscorev1.ScoreItemResult, len(items))
		for i, it := range items {
			results[i].Key = it.GetKey()
			results[i].Result = f.result.Result
			out[i] = &results[i]
		}
		if err := stream.Send(&leadscorev1.StreamScoreResponse{
			Results: out, ModelVersion: f.modelVersion, Alias: f.alias, Chunk: chunk,
		}); err != nil {
			return err
		}
	}
}

// floor serves the bare ScoringService and grpc.health.v1 until SIGTERM.
func floor(args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "the gRPC address to listen on")
	dir := fs.String("dir", "", "the directory capture wrote the messages to")
	pprofAddr := fs.String("pprof-addr", "", "serve net/http/pprof here; empty: none")
	if err := fs.Parse(args); err != nil {
		return err
	}
	svc := &floorService{score: &leadscorev1.ScoreResponse{}, explained: &leadscorev1.ScoreResponse{}}
	var stream leadscorev1.StreamScoreResponse
	if err := read(filepath.Join(*dir, scoreFile), svc.score); err != nil {
		return err
	}
	if err := read(filepath.Join(*dir, scoreExplainFile), svc.explained); err != nil {
		return err
	}
	if err := read(filepath.Join(*dir, streamFile), &stream); err != nil {
		return err
	}
	if len(stream.GetResults()) != 1 {
		return fmt.Errorf("%s holds %d results, want 1", streamFile, len(stream.GetResults()))
	}
	svc.result, svc.modelVersion, svc.alias = stream.GetResults()[0], stream.GetModelVersion(), stream.GetAlias()

	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	s := grpc.NewServer()
	leadscorev1.RegisterScoringServiceServer(s, svc)
	healthpb.RegisterHealthServer(s, health.NewServer()) // "" is SERVING
	if *pprofAddr != "" {
		go func() { fmt.Fprintln(os.Stderr, http.ListenAndServe(*pprofAddr, nil)) }()
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		s.Stop()
	}()
	return s.Serve(lis)
}
