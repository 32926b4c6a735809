package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// consoleFD is where the child finds its end of the console socket.
const consoleFD = 5

func socketPair() (*os.File, *os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console"), os.NewFile(uintptr(fds[1]), "console"), nil
}

// recvFile receives one file descriptor sent with SCM_RIGHTS.
func recvFile(sock *os.File) (*os.File, error) {
	conn, err := sock.SyscallConn()
	if err != nil {
		return nil, err
	}
	oob := make([]byte, unix.CmsgSpace(4))
	var n, oobn int
	var rerr error
	if err := conn.Read(func(fd uintptr) bool {
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), make([]byte, 1), oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	}); err != nil {
		return nil, err
	}
	if rerr != nil {
		return nil, fmt.Errorf("receiving the terminal: %w", rerr)
	}
	if n == 0 && oobn == 0 {
		return nil, errors.New("the sandbox sent no terminal")
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		return nil, fmt.Errorf("the sandbox sent no terminal: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		return nil, fmt.Errorf("the sandbox sent no terminal: %v", err)
	}
	return os.NewFile(uintptr(fds[0]), "ptmx"), nil
}

// attachTerminal, in the child after pivot_root, opens a terminal on the
// sandbox's devpts, makes it the controlling terminal and stdio, and sends
// the master end to skiff.
func attachTerminal() error {
	ptmx, err := os.OpenFile("/dev/pts/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("opening the container's terminal: %w", err)
	}
	defer ptmx.Close()
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err == nil {
		err = unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0)
	}
	if err != nil {
		return fmt.Errorf("unlocking the container's terminal: %w", err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return fmt.Errorf("opening the container's terminal: %w", err)
	}
	defer tty.Close()
	if err := unix.IoctlSetInt(int(tty.Fd()), unix.TIOCSCTTY, 0); err != nil {
		return fmt.Errorf("making the terminal controlling: %w", err)
	}
	for fd := 0; fd <= 2; fd++ {
		if err := unix.Dup2(int(tty.Fd()), fd); err != nil {
			return fmt.Errorf("terminal as stdio: %w", err)
		}
	}
	sock := os.NewFile(consoleFD, "console")
	defer sock.Close()
	return unix.Sendmsg(consoleFD, []byte{0}, unix.UnixRights(int(ptmx.Fd())), nil, 0)
}
