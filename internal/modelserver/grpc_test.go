package modelserver

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	pb "github.com/skiff-dev/skiff/internal/modelserver/inferencepb"
)

func grpcClient(t *testing.T, ts *testServer) pb.GRPCInferenceServiceClient {
	conn, err := grpc.NewClient(ts.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewGRPCInferenceServiceClient(conn)
}

func TestGRPC(t *testing.T) {
	ts := newTestServer(t, testModels, Options{})
	c := grpcClient(t, ts)
	ctx := context.Background()

	if r, err := c.ServerLive(ctx, &pb.ServerLiveRequest{}); err != nil || !r.Live {
		t.Fatalf("live: %v %v", r, err)
	}
	if r, err := c.ServerReady(ctx, &pb.ServerReadyRequest{}); err != nil || !r.Ready {
		t.Fatalf("ready: %v %v", r, err)
	}
	if r, err := c.ModelReady(ctx, &pb.ModelReadyRequest{Name: "tree"}); err != nil || !r.Ready {
		t.Fatalf("model ready: %v %v", r, err)
	}
	md, err := c.ModelMetadata(ctx, &pb.ModelMetadataRequest{Name: "labels"})
	if err != nil || md.Platform != "sklearn" || len(md.Outputs) != 2 || md.Inputs[0].Shape[1] != 3 {
		t.Fatalf("metadata: %v %v", md, err)
	}

	// Typed contents in, typed contents out; the same row through REST
	// must give the same value.
	resp, err := c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "boost", Id: "g1", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
		Name: "input-0", Datatype: "FP32", Shape: []int64{2, 3},
		Contents: &pb.InferTensorContents{Fp32Contents: []float32{0.1, 0.2, 0.3, 0.9, float32(math.NaN()), 0.1}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Id != "g1" || resp.ModelVersion != "1" || len(resp.Outputs[0].Contents.Fp32Contents) != 2 {
		t.Fatalf("infer: %v", resp)
	}
	_, body := ts.call("POST", "/v2/models/boost/infer", `{"inputs":[{"name":"i","shape":[1,3],"datatype":"FP32","data":[0.1,0.2,0.3]}]}`)
	var rest struct{ Outputs []struct{ Data []float64 } }
	if err := json.Unmarshal([]byte(body), &rest); err != nil || len(rest.Outputs) != 1 {
		t.Fatalf("REST: %s", body)
	}
	if g, r := resp.Outputs[0].Contents.Fp32Contents[0], float32(rest.Outputs[0].Data[0]); g != r {
		t.Fatalf("gRPC answered %v, REST %v", g, r)
	}

	// Raw contents in, raw contents out (as Triton's clients send them);
	// string labels come back length-prefixed.
	raw := make([]byte, 0, 24)
	for _, v := range []float64{0.95, 0.5, 0.5} {
		raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(v))
	}
	resp, err = c.ModelInfer(ctx, &pb.ModelInferRequest{ModelName: "labels",
		Inputs:           []*pb.ModelInferRequest_InferInputTensor{{Name: "input-0", Datatype: "FP64", Shape: []int64{1, 3}}},
		Outputs:          []*pb.ModelInferRequest_InferRequestedOutputTensor{{Name: "predict"}},
		RawInputContents: [][]byte{raw}})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.RawOutputContents[0]; len(resp.Outputs) != 1 || string(got[4:]) != "high" || binary.LittleEndian.Uint32(got) != 4 {
		t.Fatalf("raw labels: %v %q", resp.Outputs, resp.RawOutputContents)
	}

	// Errors carry the protocol's codes and the same messages as REST.
	cases := []struct {
		name string
		req  *pb.ModelInferRequest
		code codes.Code
		want string
	}{
		{"unknown model", &pb.ModelInferRequest{ModelName: "nope"}, codes.NotFound, `"nope" is not in the repository`},
		{"wrong shape", &pb.ModelInferRequest{ModelName: "boost", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP64", Shape: []int64{1, 2}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1, 2}}}}}, codes.InvalidArgument, "takes rows of 3 features"},
		{"contents of another type", &pb.ModelInferRequest{ModelName: "boost", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP32", Shape: []int64{1, 3}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1, 2, 3}}}}}, codes.InvalidArgument, "(3 values) but its data holds 0"},
		{"bytes", &pb.ModelInferRequest{ModelName: "boost", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "BYTES", Shape: []int64{1, 3}, Contents: &pb.InferTensorContents{BytesContents: [][]byte{{1}, {2}, {3}}}}}}, codes.InvalidArgument, "is BYTES, but the model takes numbers"},
		{"raw size", &pb.ModelInferRequest{ModelName: "boost", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP32", Shape: []int64{1, 3}}}, RawInputContents: [][]byte{{1, 2, 3, 4, 5}}}, codes.InvalidArgument, "5 raw bytes are not whole FP32 values"},
		{"no contents", &pb.ModelInferRequest{ModelName: "boost", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP32", Shape: []int64{1, 3}}}}, codes.InvalidArgument, `input "x" has no contents`},
		{"NaN for sklearn", &pb.ModelInferRequest{ModelName: "tree", Inputs: []*pb.ModelInferRequest_InferInputTensor{{
			Name: "x", Datatype: "FP64", Shape: []int64{1, 3}, Contents: &pb.InferTensorContents{Fp64Contents: []float64{1, math.Inf(1), 3}}}}}, codes.InvalidArgument, "is infinite"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ModelInfer(ctx, tc.req)
			if s, _ := status.FromError(err); s.Code() != tc.code || !strings.Contains(s.Message(), tc.want) {
				t.Fatalf("got %v, want %v containing %q", err, tc.code, tc.want)
			}
		})
	}
}
