package cli

import (
	"cmp"
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/skiff-dev/skiff/internal/artifact"
)

// FetchModelOptions are skiff fetch-model's flags and argument.
type FetchModelOptions struct {
	g        *globals
	ctx      context.Context
	URI      string
	To       string
	Cache    string
	Checksum string
	S3       artifact.S3Config
}

// NewCmdFetchModel builds skiff fetch-model, the storage initializer of
// ModelService pods; runF, if not nil, runs instead of fetchModelRun.
func NewCmdFetchModel(g *globals, runF func(*FetchModelOptions) error) *cobra.Command {
	opts := &FetchModelOptions{g: g}
	cmd := &cobra.Command{
		Use:   "fetch-model URI (--to DIR | --cache DIR --checksum sha256:HEX)",
		Short: "Copy a model file (s3://, file://) onto the node before its model server starts",
		Long: `The init container of ModelService pods whose model is in object storage. With
--cache and --checksum the file goes into the node's cache of model files by
sha256, checked against the checksum; a file the cache has is not copied again.
Otherwise it is written to DIR/model.json. The S3 keys come from
$AWS_ACCESS_KEY_ID and $AWS_SECRET_ACCESS_KEY.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ctx, opts.URI = cmd.Context(), args[0]
			if runF != nil {
				return runF(opts)
			}
			return fetchModelRun(opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.To, "to", "", "folder to write model.json to")
	f.StringVar(&opts.Cache, "cache", "", "the node's model cache (a folder of sha256/<hex>/model.json)")
	f.StringVar(&opts.Checksum, "checksum", "", "the file's sha256:<hex>, its key in --cache")
	f.StringVar(&opts.S3.Endpoint, "s3-endpoint", "", "host:port of the S3 API for s3:// URIs")
	f.BoolVar(&opts.S3.Insecure, "s3-insecure", false, "talk plain HTTP to the S3 endpoint")
	f.StringVar(&opts.S3.Region, "s3-region", "", "the S3 region (default: the endpoint's)")
	return cmd
}

func fetchModelRun(opts *FetchModelOptions) error {
	fetch := artifact.Fetch{To: opts.To}
	if opts.S3.Endpoint != "" {
		opts.S3.AccessKey = cmp.Or(opts.S3.AccessKey, os.Getenv("AWS_ACCESS_KEY_ID"))
		opts.S3.SecretKey = cmp.Or(opts.S3.SecretKey, os.Getenv("AWS_SECRET_ACCESS_KEY"))
		client, err := artifact.NewS3Client(opts.S3)
		if err != nil {
			return err
		}
		fetch.Sources.S3 = client
	}
	if opts.Cache != "" || opts.Checksum != "" {
		if opts.Cache == "" || opts.Checksum == "" {
			return fmt.Errorf("--cache and --checksum go together: the checksum is the file's key in the cache")
		}
		digest, err := artifact.ParseChecksum(opts.Checksum)
		if err != nil {
			return fmt.Errorf("--checksum: %w", err)
		}
		if fetch.Cache, err = artifact.NewDir(opts.Cache, ""); err != nil {
			return fmt.Errorf("--cache: %w", err)
		}
		fetch.Digest = digest
	}
	res, err := fetch.Run(opts.ctx, opts.URI)
	if err != nil {
		return err
	}
	how := "copied"
	if res.Cached {
		how = "already in the node's cache"
	}
	fmt.Fprintf(opts.g.stdout, "%s: %s, %d bytes, %s\n", opts.URI, res.Path, res.Size, how)
	return nil
}
