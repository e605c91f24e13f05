package server

import (
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// The service handlers. Each embeds the generated Unimplemented server, so
// an rpc whose behaviour has not been built yet answers Unimplemented with
// its own name rather than failing to register; the issues that build each
// service replace these with real handlers.

// trainingService serves leadscore.v1.TrainingService.
type trainingService struct {
	leadscorev1.UnimplementedTrainingServiceServer
}
