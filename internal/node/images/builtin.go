package images

import (
	"os"
	"path/filepath"
	"strings"
)

// base is a common public image whose default command (its CMD) a process
// node can run with the host's own program. Most images' entrypoints only
// exec their CMD; the web servers' prepare what the image would hold in
// /var (a pod's /var starts empty) and send their logs to the container's
// output, as the official images do.
type base struct {
	pattern string
	setup   string   // shell run before the CMD, as the image's entrypoint
	args    []string // the image's CMD; args[0] is looked up on the host
	pkg     string   // the Debian package that has args[0]
}

var bases = []base{
	{pattern: "nginx:*", args: []string{"nginx", "-g", "daemon off;"}, pkg: "nginx-light",
		// The official image serves /usr/share/nginx/html; Debian's site
		// serves /var/www/html.
		setup: "mkdir -p /var/lib/nginx /var/log/nginx /var/www && ln -sfn /usr/share/nginx/html /var/www/html && " +
			"ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log"},
	{pattern: "httpd:*", args: []string{"apache2ctl", "-D", "FOREGROUND"}, pkg: "apache2",
		setup: "mkdir -p /var/run/apache2 /var/lock/apache2 /var/log/apache2 /var/www /usr/local/apache2 && " +
			"ln -sfn /usr/share/apache2/default-site /var/www/html && ln -sfn /var/www/html /usr/local/apache2/htdocs && " +
			"ln -sf /dev/stdout /var/log/apache2/access.log && ln -sf /dev/stderr /var/log/apache2/error.log"},
	{pattern: "python:*", args: []string{"python3"}, pkg: "python3"},
	{pattern: "busybox:*", args: []string{"sh"}, pkg: "busybox"},
	{pattern: "alpine:*", args: []string{"sh"}, pkg: "dash"},
	{pattern: "debian:*", args: []string{"bash"}, pkg: "bash"},
	{pattern: "ubuntu:*", args: []string{"bash"}, pkg: "bash"},
}

// Builtins are the base images whose program the host has, found on path
// (a container's PATH); missing says, for the others, what to install.
func Builtins(path string) (found []Image, missing map[string]string) {
	missing = map[string]string{}
	for _, b := range bases {
		if !onPath(b.args[0], path) {
			missing[b.pattern] = "the host has no " + b.args[0] + " (Debian package " + b.pkg + ")"
			continue
		}
		img := Image{Pattern: b.pattern, Args: b.args, Source: "built-in"}
		if b.setup != "" {
			img.Command = []string{"sh", "-c", b.setup + ` && exec "$@"`, b.args[0]}
		}
		found = append(found, img)
	}
	return found, missing
}

func onPath(program, path string) bool {
	for _, dir := range strings.Split(path, ":") {
		if fi, err := os.Stat(filepath.Join(dir, program)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}
