// Package inferencepb is the Open Inference Protocol's gRPC service
// (inference.GRPCInferenceService), generated from inference.proto.
package inferencepb
