// The sandbox child, in C, run before the Go runtime starts: a re-executed
// skiff with SKIFF_SANDBOX_SPEC set builds the container's filesystem view
// and executes its command from this constructor, so a container start does
// not pay for initialising skiff's Go packages (over 100 ms). This is the
// pattern of runc's nsexec. The parent (Go, spec.go) has done everything
// that needs care with paths: symlinks in mount targets are already
// resolved inside the container's root, and the host's submounts listed.
//
// Spec file: NUL-terminated strings, a key followed by its values.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <signal.h>
#include <sched.h>
#include <unistd.h>

#define REPORT_FD 3
#define GATE_FD 4
#define CONSOLE_FD 5
#define EXIT_START_ERROR 128
#define MAX_ITEMS 4096

struct mnt {
	const char *source, *target; // target relative to the new root
	int ro, tmpfs;
	const char *size;
};

struct spec {
	const char *lower, *state, *hostname, *dir, *upper_size, *shm;
	int in_pod, tty, has_user, ro_root, has_caps, no_new_privs, enter_pid;
	unsigned char keep_cap[64]; // with has_caps: the bounding set
	uid_t uid;
	gid_t gid;
	gid_t groups[256];
	int ngroups;
	const char *args[MAX_ITEMS], *env[MAX_ITEMS], *masked[64];
	int nargs, nenv, nmasked;
	const char *sub_kind[256], *sub_path[256];
	int nsubs;
	struct mnt mounts[512];
	int nmounts;
	const char *write_path[8], *write_data[8];
	int nwrites;
	// The host view's layer (hostview.go): written into the root
	// overlay's upper layer before it is mounted.
	const char *whiteout[256], *opaque[64], *link_path[16], *link_target[16];
	mode_t opaque_mode[64];
	int nwhiteouts, nopaque, nlinks;
};

// fail_fd and fail_code are where a failure is reported and the exit
// code it gives: the start report for a sandbox, stderr for an enter.
static int fail_fd = REPORT_FD, fail_code = EXIT_START_ERROR;

static void fail(const char *fmt, ...) {
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n > 0) {
		if (n >= (int)sizeof msg)
			n = sizeof msg - 1;
		ssize_t w = write(fail_fd, msg, n);
		if (fail_fd == STDERR_FILENO)
			w = write(fail_fd, "\n", 1);
		(void)w;
	}
	_exit(fail_code);
}

static char *read_file(const char *path, size_t *len) {
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("sandbox spec %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0)
		fail("sandbox spec %s: %s", path, strerror(errno));
	char *buf = malloc(st.st_size + 1);
	if (!buf)
		fail("sandbox spec: out of memory");
	size_t off = 0;
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, st.st_size - off);
		if (n <= 0)
			fail("sandbox spec %s: short read", path);
		off += n;
	}
	buf[off] = 0;
	close(fd);
	*len = off;
	return buf;
}

static const char *next(char **p, char *end) {
	if (*p >= end)
		fail("sandbox spec: truncated");
	const char *v = *p;
	*p += strlen(*p) + 1;
	return v;
}

static void parse(char *buf, size_t len, struct spec *s) {
	char *p = buf, *end = buf + len;
#define NEXT() next(&p, end)
	memset(s, 0, sizeof *s);
	while (p < end) {
		const char *key = NEXT();
		if (!strcmp(key, "lower")) s->lower = NEXT();
		else if (!strcmp(key, "state")) s->state = NEXT();
		else if (!strcmp(key, "hostname")) s->hostname = NEXT();
		else if (!strcmp(key, "dir")) s->dir = NEXT();
		else if (!strcmp(key, "upper_size")) s->upper_size = NEXT();
		else if (!strcmp(key, "shm")) s->shm = NEXT();
		else if (!strcmp(key, "enter_pid")) s->enter_pid = atoi(NEXT());
		else if (!strcmp(key, "in_pod")) s->in_pod = 1;
		else if (!strcmp(key, "ro_root")) s->ro_root = 1;
		else if (!strcmp(key, "tty")) s->tty = 1;
		else if (!strcmp(key, "no_new_privs")) s->no_new_privs = 1;
		else if (!strcmp(key, "caps")) {
			s->has_caps = 1;
			int n = atoi(NEXT());
			for (int i = 0; i < n; i++) {
				int c = atoi(NEXT());
				if (c < 0 || c >= 64) fail("sandbox spec: capability %d out of range", c);
				s->keep_cap[c] = 1;
			}
		} else if (!strcmp(key, "whiteout")) {
			if (s->nwhiteouts >= 256) fail("sandbox spec: too many hidden paths");
			s->whiteout[s->nwhiteouts++] = NEXT();
		} else if (!strcmp(key, "opaque")) {
			if (s->nopaque >= 64) fail("sandbox spec: too many empty folders");
			s->opaque[s->nopaque] = NEXT();
			s->opaque_mode[s->nopaque++] = strtoul(NEXT(), 0, 8);
		} else if (!strcmp(key, "link")) {
			if (s->nlinks >= 16) fail("sandbox spec: too many links");
			s->link_path[s->nlinks] = NEXT();
			s->link_target[s->nlinks++] = NEXT();
		}
		else if (!strcmp(key, "user")) {
			s->has_user = 1;
			s->uid = strtoul(NEXT(), 0, 10);
			s->gid = strtoul(NEXT(), 0, 10);
			s->ngroups = atoi(NEXT());
			if (s->ngroups < 0 || s->ngroups > 256) fail("sandbox spec: too many groups");
			for (int i = 0; i < s->ngroups; i++) s->groups[i] = strtoul(NEXT(), 0, 10);
		} else if (!strcmp(key, "arg")) {
			if (s->nargs >= MAX_ITEMS - 1) fail("sandbox spec: too many args");
			s->args[s->nargs++] = NEXT();
		} else if (!strcmp(key, "env")) {
			if (s->nenv >= MAX_ITEMS - 1) fail("sandbox spec: too many env vars");
			s->env[s->nenv++] = NEXT();
		} else if (!strcmp(key, "mask")) {
			if (s->nmasked >= 64) fail("sandbox spec: too many masked paths");
			s->masked[s->nmasked++] = NEXT();
		} else if (!strcmp(key, "sub")) {
			if (s->nsubs >= 256) fail("sandbox spec: too many host submounts");
			s->sub_kind[s->nsubs] = NEXT();
			s->sub_path[s->nsubs++] = NEXT();
		} else if (!strcmp(key, "mount")) {
			if (s->nmounts >= 512) fail("sandbox spec: too many mounts");
			struct mnt *m = &s->mounts[s->nmounts++];
			m->source = NEXT();
			m->target = NEXT();
			m->ro = !strcmp(NEXT(), "1");
			m->tmpfs = !strcmp(NEXT(), "1");
			m->size = NEXT();
		} else if (!strcmp(key, "write")) {
			if (s->nwrites >= 8) fail("sandbox spec: too many files");
			s->write_path[s->nwrites] = NEXT();
			s->write_data[s->nwrites++] = NEXT();
		} else
			fail("sandbox spec: unknown key %s", key);
	}
#undef NEXT
	if (s->nargs == 0 || (!s->enter_pid && (!s->state || !s->hostname)))
		fail("sandbox spec: incomplete");
}

// pathf formats a path into a PATH_MAX buffer, failing rather than
// truncating it.
__attribute__((format(printf, 2, 3))) static void pathf(char *out, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(out, PATH_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= PATH_MAX)
		fail("path too long: %s", out);
}

// overlay_opts writes overlayfs's mount options for the three folders,
// with the characters its option parser splits on (',' and, in lowerdir,
// ':') escaped by a backslash, so that a data dir named "a,b" works.
static void overlay_opts(char *out, size_t size, const char *lower, const char *upper, const char *work) {
	const char *keys[] = {"lowerdir=", ",upperdir=", ",workdir="};
	const char *vals[] = {lower, upper, work};
	size_t n = 0;
	for (int k = 0; k < 3; k++) {
		for (const char *c = keys[k]; *c; c++) {
			if (n + 1 >= size)
				fail("overlay options too long for %s", upper);
			out[n++] = *c;
		}
		for (const char *c = vals[k]; *c; c++) {
			if (n + 2 >= size)
				fail("overlay options too long for %s", upper);
			if (*c == ',' || *c == ':' || *c == '\\')
				out[n++] = '\\';
			out[n++] = *c;
		}
	}
	out[n] = 0;
}

static void join(char *out, const char *a, const char *b) {
	if (snprintf(out, PATH_MAX, "%s/%s", a, b[0] == '/' ? b + 1 : b) >= PATH_MAX)
		fail("path too long: %s/%s", a, b);
}

static void mkdir_all(const char *path, mode_t mode) {
	char buf[PATH_MAX];
	pathf(buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			fail("creating %s: %s", buf, strerror(errno));
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		fail("creating %s: %s", buf, strerror(errno));
}

static void ensure_file(const char *path) {
	char dir[PATH_MAX];
	pathf(dir, "%s", path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = 0;
		mkdir_all(dir, 0755);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		fail("creating %s: %s", path, strerror(errno));
	close(fd);
}

static void do_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data) {
	if (mount(src, target, fstype, flags, data) < 0)
		fail("mounting %s at %s: %s", src ? src : fstype, target, strerror(errno));
}

static void bind_ro(const char *src, const char *target) {
	do_mount(src, target, 0, MS_BIND, 0);
	do_mount(0, target, 0, MS_BIND | MS_REMOUNT | MS_RDONLY, 0);
}

static void write_text(const char *path, const char *data) {
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		fail("writing %s: %s", path, strerror(errno));
	size_t n = strlen(data);
	if (write(fd, data, n) != (ssize_t)n)
		fail("writing %s: %s", path, strerror(errno));
	close(fd);
}

// host_submounts gives the root the host's other filesystems: directories
// as overlays of their own (writes stay in the pod), or read-only where
// overlayfs refuses; files read-only.
static void host_submounts(const struct spec *s, const char *root, const char *fs) {
	for (int i = 0; i < s->nsubs; i++) {
		char target[PATH_MAX];
		join(target, root, s->sub_path[i]);
		if (!strcmp(s->sub_kind[i], "file")) {
			ensure_file(target);
			bind_ro(s->sub_path[i], target);
			continue;
		}
		mkdir_all(target, 0755);
		char upper[PATH_MAX], work[PATH_MAX], opts[3 * PATH_MAX + 64];
		pathf(upper, "%s/submounts/%d/upper", fs, i);
		pathf(work, "%s/submounts/%d/work", fs, i);
		mkdir_all(upper, 0755);
		mkdir_all(work, 0755);
		overlay_opts(opts, sizeof opts, s->sub_path[i], upper, work);
		if (mount("overlay", target, "overlay", 0, opts) == 0)
			continue;
		bind_ro(s->sub_path[i], target);
	}
}

// protect_proc makes the kernel's knobs under /proc read-only and hides
// what leaks the host's memory or keys, as container runtimes do: writes
// to /proc/sys are checked against file modes, not capabilities, so a
// root pod without CAP_SYS_ADMIN could still set kernel.core_pattern.
static void protect_proc(const char *root) {
	static const char *ro[] = {"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"};
	static const char *hidden[] = {"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/kallsyms"};
	char p[PATH_MAX];
	struct stat st;
	for (size_t i = 0; i < sizeof ro / sizeof *ro; i++) {
		join(p, root, ro[i]);
		if (lstat(p, &st) == 0)
			bind_ro(p, p);
	}
	for (size_t i = 0; i < sizeof hidden / sizeof *hidden; i++) {
		join(p, root, hidden[i]);
		if (lstat(p, &st) == 0)
			do_mount("/dev/null", p, 0, MS_BIND, 0);
	}
}

// system_mounts: /proc of the PID namespace, a private nodev /dev with the
// standard nodes bound from the host's, devpts, /dev/shm, read-only /sys.
static void system_mounts(const struct spec *s, const char *root) {
	char p[PATH_MAX];
	join(p, root, "/proc");
	mkdir_all(p, 0755);
	do_mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, 0);
	if (s->has_caps)
		protect_proc(root);
	char dev[PATH_MAX];
	join(dev, root, "/dev");
	mkdir_all(dev, 0755);
	// nodev: a node a pod makes there (NVML creates the GPUs' nodes it
	// misses) opens nothing; the bound standard nodes are mounts of their own.
	do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k");
	static const char *nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
	for (size_t i = 0; i < sizeof nodes / sizeof *nodes; i++) {
		char host[64];
		snprintf(host, sizeof host, "/dev/%s", nodes[i]);
		pathf(p, "%s/%s", dev, nodes[i]);
		ensure_file(p);
		do_mount(host, p, 0, MS_BIND, 0);
	}
	pathf(p, "%s/pts", dev);
	mkdir_all(p, 0755);
	do_mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
	pathf(p, "%s/shm", dev);
	mkdir_all(p, 01777);
	if (s->shm)
		do_mount(s->shm, p, 0, MS_BIND, 0);
	else
		do_mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=67108864");
	static const char *links[][2] = {{"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
					 {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++) {
		pathf(p, "%s/%s", dev, links[i][0]);
		if (symlink(links[i][1], p) < 0)
			fail("linking %s: %s", p, strerror(errno));
	}
	join(p, root, "/sys");
	mkdir_all(p, 0755);
	do_mount("/sys", p, 0, MS_BIND | MS_REC, 0);
	do_mount(0, p, 0, MS_BIND | MS_REMOUNT | MS_RDONLY, 0);
}

static void volume_mounts(const struct spec *s, const char *root) {
	for (int i = 0; i < s->nmounts; i++) {
		const struct mnt *m = &s->mounts[i];
		char target[PATH_MAX];
		join(target, root, m->target);
		if (m->tmpfs) {
			mkdir_all(target, 0755);
			char opts[128] = "mode=0777";
			if (m->size[0])
				snprintf(opts, sizeof opts, "mode=0777,size=%s", m->size);
			do_mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, opts);
			continue;
		}
		struct stat st;
		if (stat(m->source, &st) < 0)
			fail("volume at %s: %s: %s", m->target, m->source, strerror(errno));
		if (S_ISDIR(st.st_mode))
			mkdir_all(target, 0755);
		else
			ensure_file(target);
		do_mount(m->source, target, 0, MS_BIND | MS_REC, 0);
		if (m->ro)
			do_mount(0, target, 0, MS_BIND | MS_REMOUNT | MS_RDONLY, 0);
	}
}

// read_only_root remounts the root and the host filesystems in it
// read-only (readOnlyRootFilesystem); /dev, /proc and volumes are mounts of
// their own and keep their modes.
static void read_only_root(const struct spec *s, const char *root) {
	char old[PATH_MAX];
	join(old, root, "/.skiff-oldroot"); // pivot's, made while it can be
	mkdir_all(old, 0700);
	do_mount(0, root, 0, MS_REMOUNT | MS_BIND | MS_RDONLY, 0);
	for (int i = 0; i < s->nsubs; i++) {
		char target[PATH_MAX];
		join(target, root, s->sub_path[i]);
		do_mount(0, target, 0, MS_REMOUNT | MS_BIND | MS_RDONLY, 0);
	}
}

// upper_parent creates the folders above path (relative to the root) in
// the upper layer with the modes and owners the host's have, since an
// upper folder's attributes are what the merged one shows.
static void upper_parent(const char *upper, const char *path) {
	char rel[PATH_MAX];
	pathf(rel, "%s", path);
	for (char *p = rel + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		char up[PATH_MAX];
		join(up, upper, rel);
		struct stat st;
		if (mkdir(up, 0755) < 0) {
			if (errno != EEXIST)
				fail("creating %s: %s", up, strerror(errno));
		} else if (stat(rel, &st) == 0 && (chmod(up, st.st_mode & 07777) < 0 || chown(up, st.st_uid, st.st_gid) < 0))
			fail("preparing %s: %s", up, strerror(errno));
		*p = '/';
	}
}

// host_layer hides what a pod must not see of the host's root: a
// whiteout (a 0/0 character device) removes a path from the merged view,
// an opaque folder shows none of the host's entries under it.
static void host_layer(const struct spec *s, const char *upper) {
	char p[PATH_MAX];
	for (int i = 0; i < s->nopaque; i++) {
		upper_parent(upper, s->opaque[i]);
		join(p, upper, s->opaque[i]);
		if (mkdir(p, 0700) < 0 && errno != EEXIST)
			fail("creating %s: %s", p, strerror(errno));
		if (chmod(p, s->opaque_mode[i]) < 0)
			fail("preparing %s: %s", p, strerror(errno));
		if (setxattr(p, "trusted.overlay.opaque", "y", 1, 0) < 0)
			fail("hiding the host's %s: %s", s->opaque[i], strerror(errno));
	}
	for (int i = 0; i < s->nwhiteouts; i++) {
		upper_parent(upper, s->whiteout[i]);
		join(p, upper, s->whiteout[i]);
		if (mknod(p, S_IFCHR | 0600, makedev(0, 0)) < 0 && errno != EEXIST)
			fail("hiding the host's %s: %s", s->whiteout[i], strerror(errno));
	}
	for (int i = 0; i < s->nlinks; i++) {
		join(p, upper, s->link_path[i]);
		if (symlink(s->link_target[i], p) < 0 && errno != EEXIST)
			fail("linking %s: %s", p, strerror(errno));
	}
}

// drop_privileges limits what the command can gain, before it runs as its
// user: the bounding set is the container's capabilities (root's exec
// gets exactly those), nothing is inheritable or ambient, and with
// no_new_privs neither setuid files nor file capabilities raise it.
static void drop_privileges(const struct spec *s) {
	if (s->has_caps) {
		for (int c = 0; c < 64; c++) {
			if (s->keep_cap[c])
				continue;
			if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
				if (errno == EINVAL)
					break; // past the kernel's last capability
				fail("dropping capability %d: %s", c, strerror(errno));
			}
		}
		struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
		struct __user_cap_data_struct d[2];
		if (syscall(SYS_capget, &h, d) < 0)
			fail("reading capabilities: %s", strerror(errno));
		d[0].inheritable = d[1].inheritable = 0;
		if (syscall(SYS_capset, &h, d) < 0)
			fail("clearing inheritable capabilities: %s", strerror(errno));
		if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
			fail("clearing ambient capabilities: %s", strerror(errno));
	}
	if (s->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		fail("setting no_new_privs: %s", strerror(errno));
}

static void pivot(const char *root) {
	char old[PATH_MAX];
	join(old, root, "/.skiff-oldroot");
	mkdir_all(old, 0700);
	if (syscall(SYS_pivot_root, root, old) < 0)
		fail("pivot_root: %s", strerror(errno));
	if (chdir("/") < 0)
		fail("chdir /: %s", strerror(errno));
	if (umount2("/.skiff-oldroot", MNT_DETACH) < 0)
		fail("detaching the host root: %s", strerror(errno));
	rmdir("/.skiff-oldroot");
}

// attach_terminal opens a terminal on the sandbox's own devpts, makes it
// the controlling terminal and stdio, and sends the master end to skiff.
static void attach_terminal(void) {
	int ptmx = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (ptmx < 0)
		fail("opening the container's terminal: %s", strerror(errno));
	int n, unlock = 0;
	if (ioctl(ptmx, TIOCGPTN, &n) < 0 || ioctl(ptmx, TIOCSPTLCK, &unlock) < 0)
		fail("unlocking the container's terminal: %s", strerror(errno));
	char name[64];
	snprintf(name, sizeof name, "/dev/pts/%d", n);
	int tty = open(name, O_RDWR | O_NOCTTY);
	if (tty < 0)
		fail("opening %s: %s", name, strerror(errno));
	if (ioctl(tty, TIOCSCTTY, 0) < 0)
		fail("making the terminal controlling: %s", strerror(errno));
	for (int fd = 0; fd <= 2; fd++)
		if (dup2(tty, fd) < 0)
			fail("terminal as stdio: %s", strerror(errno));
	if (tty > 2)
		close(tty);
	char byte = 0;
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	char cbuf[CMSG_SPACE(sizeof(int))];
	memset(cbuf, 0, sizeof cbuf);
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf};
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &ptmx, sizeof(int));
	if (sendmsg(CONSOLE_FD, &msg, 0) < 0)
		fail("sending the terminal to skiff: %s", strerror(errno));
	close(ptmx);
	close(CONSOLE_FD);
}

static const char *env_path(const struct spec *s) {
	for (int i = 0; i < s->nenv; i++)
		if (!strncmp(s->env[i], "PATH=", 5))
			return s->env[i] + 5;
	return "";
}

static void exec_command(struct spec *s) {
	s->args[s->nargs] = 0;
	s->env[s->nenv] = 0;
	const char *file = s->args[0];
	if (strchr(file, '/')) {
		execve(file, (char **)s->args, (char **)s->env);
		fail("exec: \"%s\": %s", file, strerror(errno));
	}
	const char *path = env_path(s);
	int saw_eacces = 0;
	while (*path) {
		const char *colon = strchr(path, ':');
		size_t n = colon ? (size_t)(colon - path) : strlen(path);
		char full[PATH_MAX];
		pathf(full, "%.*s/%s", (int)n, n ? path : ".", file);
		struct stat st;
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
			execve(full, (char **)s->args, (char **)s->env);
			if (errno == EACCES)
				saw_eacces = 1;
			else
				fail("exec: \"%s\": %s", full, strerror(errno));
		}
		path += n;
		if (*path == ':')
			path++;
	}
	fail(saw_eacces ? "exec: \"%s\": permission denied" : "exec: \"%s\": executable file not found in $PATH", file);
}

static void set_identity(struct spec *s);

static void run_child(const char *spec_path) {
	fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
	fcntl(GATE_FD, F_SETFD, FD_CLOEXEC);
	char gate;
	if (read(GATE_FD, &gate, 1) != 1)
		_exit(EXIT_START_ERROR); // skiff gave up on this start
	close(GATE_FD);
	size_t len;
	char *buf = read_file(spec_path, &len);
	static struct spec s;
	parse(buf, len, &s);

	// Nothing mounted here may propagate back to the host.
	if (mount("", "/", 0, MS_REC | MS_PRIVATE, 0) < 0)
		fail("making mounts private: %s", strerror(errno));
	// The writable layer lives on a tmpfs: overlayfs refuses an upper
	// directory inside its lower tree, and a pod's writes vanish with it.
	char fs[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], root[PATH_MAX];
	join(fs, s.state, "fs");
	mkdir_all(fs, 0700);
	char opts[3 * PATH_MAX + 64] = "mode=0755";
	if (s.upper_size)
		snprintf(opts, sizeof opts, "mode=0755,size=%s", s.upper_size);
	do_mount("tmpfs", fs, "tmpfs", 0, opts);
	join(upper, fs, "upper");
	join(work, fs, "work");
	join(root, fs, "root");
	mkdir_all(upper, 0755);
	mkdir_all(work, 0755);
	mkdir_all(root, 0755);
	host_layer(&s, upper);
	const char *lower = s.lower && s.lower[0] ? s.lower : "/";
	overlay_opts(opts, sizeof opts, lower, upper, work);
	if (mount("overlay", root, "overlay", 0, opts) < 0)
		fail("mounting the root overlay over %s: %s", lower, strerror(errno));
	host_submounts(&s, root, fs);
	// skiff's own data (keys, other pods' state) is no pod's business.
	for (int i = 0; i < s.nmasked; i++) {
		char t[PATH_MAX];
		struct stat st;
		join(t, root, s.masked[i]);
		if (lstat(t, &st) == 0 && S_ISDIR(st.st_mode))
			do_mount("tmpfs", t, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755");
	}
	system_mounts(&s, root);
	volume_mounts(&s, root);
	for (int i = 0; i < s.nwrites; i++) {
		char t[PATH_MAX];
		join(t, root, s.write_path[i]);
		write_text(t, s.write_data[i]);
	}
	if (s.ro_root)
		read_only_root(&s, root);
	pivot(root);
	if (!s.in_pod && sethostname(s.hostname, strlen(s.hostname)) < 0)
		fail("setting hostname: %s", strerror(errno));
	const char *dir = s.dir && s.dir[0] ? s.dir : "/";
	mkdir_all(dir, 0755);
	if (chdir(dir) < 0)
		fail("working directory %s: %s", dir, strerror(errno));
	if (s.tty)
		attach_terminal();
	set_identity(&s);
	exec_command(&s);
}

// set_identity drops what the command may hold, then becomes its user.
static void set_identity(struct spec *s) {
	drop_privileges(s);
	if (s->has_user) {
		if (setgroups(s->ngroups, s->groups) < 0)
			fail("setting supplementary groups: %s", strerror(errno));
		if (setgid(s->gid) < 0)
			fail("setting group id %u: %s", s->gid, strerror(errno));
		if (setuid(s->uid) < 0)
			fail("setting user id %u: %s", s->uid, strerror(errno));
	}
}

// run_enter runs a command inside a running sandbox (kubectl exec, exec
// probes), as runc's exec does: this code is the host's, loaded before
// anything of the pod's is reached, so nothing the pod controls runs with
// root's rights. It joins the sandbox's namespaces and root, forks into
// its PID namespace, drops to the container's rights and execs.
static void run_enter(int spec_fd) {
	fail_fd = STDERR_FILENO;
	fail_code = 126;
	struct stat st;
	if (fstat(spec_fd, &st) < 0)
		fail("exec spec: %s", strerror(errno));
	char *buf = malloc(st.st_size + 1);
	if (!buf)
		fail("exec spec: out of memory");
	if (pread(spec_fd, buf, st.st_size, 0) != st.st_size)
		fail("exec spec: short read");
	buf[st.st_size] = 0;
	close(spec_fd);
	static struct spec s;
	parse(buf, st.st_size, &s);
	static const char *kinds[] = {"ipc", "uts", "net", "pid", "mnt"};
	int ns[5];
	char p[PATH_MAX];
	for (int i = 0; i < 5; i++) {
		pathf(p, "/proc/%d/ns/%s", s.enter_pid, kinds[i]);
		if ((ns[i] = open(p, O_RDONLY | O_CLOEXEC)) < 0)
			fail("the container is gone (%s: %s)", p, strerror(errno));
	}
	pathf(p, "/proc/%d/root", s.enter_pid);
	int root = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	pathf(p, "/proc/%d/cwd", s.enter_pid);
	int cwd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (root < 0 || cwd < 0)
		fail("the container is gone (%s: %s)", p, strerror(errno));
	for (int i = 0; i < 5; i++)
		if (setns(ns[i], 0) < 0)
			fail("entering the container's %s namespace: %s", kinds[i], strerror(errno));
	if (fchdir(root) < 0 || chroot(".") < 0 || fchdir(cwd) < 0)
		fail("entering the container's root: %s", strerror(errno));
	pid_t child = fork();
	if (child < 0)
		fail("fork: %s", strerror(errno));
	if (child == 0) {
		set_identity(&s);
		fail_code = 127;
		exec_command(&s);
	}
	// The parent only waits: its status is the command's.
	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			fail("waiting for the command: %s", strerror(errno));
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		kill(getpid(), WTERMSIG(status));
	}
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

__attribute__((constructor)) static void skiff_sandbox_child(void) {
	const char *spec = getenv("SKIFF_SANDBOX_SPEC");
	if (spec && *spec)
		run_child(spec);
	const char *enter = getenv("SKIFF_SANDBOX_ENTER");
	if (enter && *enter)
		run_enter(atoi(enter));
}
