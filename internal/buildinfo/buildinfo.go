// Package buildinfo reports what the Go toolchain recorded about the running
// binary: the version of the polyjobs module in it, the VCS commit it was
// built from and the Go version that built it. It uses only the standard
// library, so that the SDK may use it too.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// ModulePath is the path of the polyjobs module.
const ModulePath = "github.com/polyjobs/polyjobs"

// Devel is the Version of a build that recorded none, such as a test binary.
const Devel = "(devel)"

// Info describes the running binary.
type Info struct {
	// Version is the polyjobs module's version: a release such as v1.2.3 when
	// installed with go install ...@version, a pseudo-version (with +dirty
	// for uncommitted changes) when built in a checkout, else Devel.
	Version string
	// Commit is the VCS revision the binary was built from; empty when the
	// build did not record one (go install, go test, -buildvcs=false).
	Commit string
	// Modified reports whether the work tree had uncommitted changes.
	Modified bool
	// GoVersion is the Go toolchain that built the binary, such as go1.26.8.
	GoVersion string
	// Platform is the operating system and architecture, such as linux/amd64.
	Platform string
}

// Read returns the running binary's Info. The polyjobs module may be the main
// module (the polyjobs binary) or a dependency (a program using the SDK).
var Read = sync.OnceValue(func() Info {
	info := Info{Version: Devel, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return info
	}
	return fromBuildInfo(bi, info)
})

// fromBuildInfo fills info from bi.
func fromBuildInfo(bi *debug.BuildInfo, info Info) Info {
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	version := ""
	if bi.Main.Path == ModulePath {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				info.Commit = s.Value
			case "vcs.modified":
				info.Modified = s.Value == "true"
			}
		}
	}
	for _, dep := range bi.Deps {
		if dep.Path == ModulePath {
			version = dep.Version
			if dep.Replace != nil && dep.Replace.Version != "" {
				version = dep.Replace.Version
			}
		}
	}
	if version != "" && version != Devel {
		info.Version = version
	}
	return info
}

// ShortCommit is the first twelve characters of Commit, as git shows it.
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 {
		return i.Commit[:12]
	}
	return i.Commit
}

// String describes the build on one line, for example
// "polyjobs v1.2.3 (commit 0123456789ab, go1.26.8 linux/amd64)".
func (i Info) String() string {
	commit := "commit unknown"
	if i.Commit != "" {
		commit = "commit " + i.ShortCommit()
		if i.Modified {
			commit += ", modified"
		}
	}
	return fmt.Sprintf("polyjobs %s (%s, %s %s)", i.Version, commit, i.GoVersion, i.Platform)
}
