package modelserver

import (
	"context"
	"encoding/binary"
	"math"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/skiff-dev/skiff/internal/model"
	pb "github.com/skiff-dev/skiff/internal/modelserver/inferencepb"
)

// grpcService is the v2 protocol over gRPC.
type grpcService struct {
	pb.UnimplementedGRPCInferenceServiceServer
	s *Server
}

func grpcError(err error) error {
	return status.Error(classify(err).grpcCode(), err.Error())
}

func (g *grpcService) ServerLive(context.Context, *pb.ServerLiveRequest) (*pb.ServerLiveResponse, error) {
	return &pb.ServerLiveResponse{Live: true}, nil
}

func (g *grpcService) ServerReady(context.Context, *pb.ServerReadyRequest) (*pb.ServerReadyResponse, error) {
	return &pb.ServerReadyResponse{Ready: g.s.repo.Ready()}, nil
}

func (g *grpcService) ModelReady(_ context.Context, req *pb.ModelReadyRequest) (*pb.ModelReadyResponse, error) {
	_, err := g.s.repo.Version(req.Name, req.Version)
	if err != nil && classify(err) != kindNotReady {
		return nil, grpcError(err)
	}
	return &pb.ModelReadyResponse{Ready: err == nil}, nil
}

func (g *grpcService) ServerMetadata(context.Context, *pb.ServerMetadataRequest) (*pb.ServerMetadataResponse, error) {
	return &pb.ServerMetadataResponse{Name: "skiff", Version: g.s.opts.Version}, nil
}

func (g *grpcService) ModelMetadata(_ context.Context, req *pb.ModelMetadataRequest) (*pb.ModelMetadataResponse, error) {
	md, err := g.s.metadataOf(req.Name, req.Version)
	if err != nil {
		return nil, grpcError(err)
	}
	resp := &pb.ModelMetadataResponse{Name: md.Name, Versions: md.Versions, Platform: md.Platform}
	for _, t := range md.Inputs {
		resp.Inputs = append(resp.Inputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	for _, t := range md.Outputs {
		resp.Outputs = append(resp.Outputs, &pb.ModelMetadataResponse_TensorMetadata{Name: t.Name, Datatype: t.Datatype, Shape: t.Shape})
	}
	return resp, nil
}

// RepositoryModelLoad rescans the repository now; the model is loaded if
// its folder holds a version that loads.
func (g *grpcService) RepositoryModelLoad(ctx context.Context, req *pb.RepositoryModelLoadRequest) (*pb.RepositoryModelLoadResponse, error) {
	g.s.repo.Scan(ctx)
	_, err := g.s.repo.Version(req.ModelName, "")
	if err != nil {
		return nil, grpcError(err)
	}
	return &pb.RepositoryModelLoadResponse{ModelName: req.ModelName, IsLoaded: true}, nil
}

func (g *grpcService) RepositoryModelUnload(context.Context, *pb.RepositoryModelUnloadRequest) (*pb.RepositoryModelUnloadResponse, error) {
	return nil, status.Error(codes.Unimplemented, "skiff serves what the model repository folder holds: remove the model's folder to unload it")
}

func (g *grpcService) ModelInfer(_ context.Context, req *pb.ModelInferRequest) (resp *pb.ModelInferResponse, err error) {
	start := time.Now()
	var rec record
	defer func() {
		g.s.metrics.done(rec.model, rec.version, protoV2GRPC, start, err)
		if err != nil {
			err = grpcError(err)
		}
	}()
	v, err := g.s.repo.Version(req.ModelName, req.ModelVersion)
	if err != nil {
		return nil, err
	}
	rec.set(v)
	raw := len(req.RawInputContents) > 0
	if raw && len(req.RawInputContents) != len(req.Inputs) {
		return nil, badRequest("%d raw_input_contents for %d inputs: give one per input, in order", len(req.RawInputContents), len(req.Inputs))
	}
	inputs := make([]tensor, len(req.Inputs))
	for i, in := range req.Inputs {
		t := tensor{name: in.Name, datatype: in.Datatype, shape: in.Shape}
		if raw {
			if in.Contents != nil {
				return nil, badRequest("input %q has contents and raw_input_contents: use one", in.Name)
			}
			t.nums, err = decodeRaw(in.Name, in.Datatype, req.RawInputContents[i])
		} else {
			t.nums, err = decodeContents(in.Name, in.Datatype, in.Contents)
		}
		if err != nil {
			return nil, err
		}
		inputs[i] = t
	}
	var wanted []string
	for _, o := range req.Outputs {
		wanted = append(wanted, o.Name)
	}
	outs, err := predict(v, inputs, wanted)
	if err != nil {
		return nil, err
	}
	resp = &pb.ModelInferResponse{ModelName: v.Model, ModelVersion: v.Name, Id: req.Id}
	for _, o := range outs {
		t := &pb.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: o.Datatype, Shape: o.Shape}
		if raw {
			resp.RawOutputContents = append(resp.RawOutputContents, encodeRaw(o))
		} else {
			t.Contents = encodeContents(o)
		}
		resp.Outputs = append(resp.Outputs, t)
	}
	return resp, nil
}

// decodeContents reads the typed contents field that matches the datatype.
func decodeContents(name, datatype string, c *pb.InferTensorContents) ([]float64, error) {
	if c == nil {
		return nil, badRequest("input %q has no contents", name)
	}
	var out []float64
	switch datatype {
	case "FP32":
		for _, v := range c.Fp32Contents {
			out = append(out, float64(v))
		}
	case "FP64":
		out = append(out, c.Fp64Contents...)
	case "INT8", "INT16", "INT32":
		for _, v := range c.IntContents {
			out = append(out, float64(v))
		}
	case "INT64":
		for _, v := range c.Int64Contents {
			out = append(out, float64(v))
		}
	case "UINT8", "UINT16", "UINT32":
		for _, v := range c.UintContents {
			out = append(out, float64(v))
		}
	case "UINT64":
		for _, v := range c.Uint64Contents {
			out = append(out, float64(v))
		}
	case "BOOL":
		for _, v := range c.BoolContents {
			out = append(out, b2f(v))
		}
	default:
		return nil, checkDatatype(&tensor{name: name, datatype: datatype})
	}
	return out, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// decodeRaw reads little-endian, row-major tensor bytes.
func decodeRaw(name, datatype string, b []byte) ([]float64, error) {
	size, ok := datatypeSize[datatype]
	if !ok {
		return nil, checkDatatype(&tensor{name: name, datatype: datatype})
	}
	if len(b)%size != 0 {
		return nil, badRequest("input %q: %d raw bytes are not whole %s values (%d bytes each)", name, len(b), datatype, size)
	}
	out := make([]float64, len(b)/size)
	le := binary.LittleEndian
	for i := range out {
		p := b[i*size:]
		switch datatype {
		case "FP32":
			out[i] = float64(math.Float32frombits(le.Uint32(p)))
		case "FP64":
			out[i] = math.Float64frombits(le.Uint64(p))
		case "INT8":
			out[i] = float64(int8(p[0]))
		case "INT16":
			out[i] = float64(int16(le.Uint16(p)))
		case "INT32":
			out[i] = float64(int32(le.Uint32(p)))
		case "INT64":
			out[i] = float64(int64(le.Uint64(p)))
		case "UINT8", "BOOL":
			out[i] = float64(p[0])
		case "UINT16":
			out[i] = float64(le.Uint16(p))
		case "UINT32":
			out[i] = float64(le.Uint32(p))
		case "UINT64":
			out[i] = float64(le.Uint64(p))
		}
	}
	return out, nil
}

func encodeContents(o model.Output) *pb.InferTensorContents {
	c := &pb.InferTensorContents{}
	switch o.Datatype {
	case model.BYTES:
		for _, s := range o.Strings {
			c.BytesContents = append(c.BytesContents, []byte(s))
		}
	case model.FP32:
		for _, v := range o.Numbers {
			c.Fp32Contents = append(c.Fp32Contents, float32(v))
		}
	case model.INT64:
		for _, v := range o.Numbers {
			c.Int64Contents = append(c.Int64Contents, int64(v))
		}
	default:
		c.Fp64Contents = o.Numbers
	}
	return c
}

// encodeRaw writes an output as raw bytes; BYTES elements are each
// prefixed by their 4-byte little-endian length, as the protocol says.
func encodeRaw(o model.Output) []byte {
	le := binary.LittleEndian
	var b []byte
	switch o.Datatype {
	case model.BYTES:
		for _, s := range o.Strings {
			b = le.AppendUint32(b, uint32(len(s)))
			b = append(b, s...)
		}
	case model.FP32:
		for _, v := range o.Numbers {
			b = le.AppendUint32(b, math.Float32bits(float32(v)))
		}
	case model.INT64:
		for _, v := range o.Numbers {
			b = le.AppendUint64(b, uint64(int64(v)))
		}
	default:
		for _, v := range o.Numbers {
			b = le.AppendUint64(b, math.Float64bits(v))
		}
	}
	return b
}
