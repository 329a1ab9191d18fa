package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat; it is
// 100 on every Linux architecture Go supports.
const clockTicks = 100

// procRSS reads VmRSS (KiB) from /proc/<pid>/status.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(b)
}

func parseVmRSS(status []byte) (int64, error) {
	for _, line := range bytes.Split(status, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := bytes.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(string(f[0]), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS line")
}

// procCPU reads utime+stime of pid (or "self") in seconds.
func procCPU(pid string) (float64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU takes utime and stime, fields 14 and 15 of /proc/<pid>/stat;
// the command name (field 2) may hold spaces, so count after its ')'.
func parseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14 → f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat")
	}
	u, err1 := strconv.ParseUint(string(f[11]), 10, 64)
	s, err2 := strconv.ParseUint(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed stat times")
	}
	return float64(u+s) / clockTicks, nil
}

// serverProc samples the server process given by -pid; with pid 0 every
// read returns zero.
type serverProc struct{ pid int }

func (p serverProc) cpu() float64 {
	if p.pid == 0 {
		return 0
	}
	v, _ := procCPU(strconv.Itoa(p.pid))
	return v
}

func (p serverProc) rss() int64 {
	if p.pid == 0 {
		return 0
	}
	v, _ := procRSS(p.pid)
	return v
}

func selfCPU() float64 {
	v, _ := procCPU("self")
	return v
}
