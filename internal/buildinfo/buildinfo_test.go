package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	base := Info{Version: Devel, GoVersion: "go0", Platform: "os/arch"}
	commit := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		name string
		bi   debug.BuildInfo
		want Info
		text string
	}{
		{
			name: "built in a checkout",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: ModulePath, Version: "v0.0.0-20260101000000-0123456789ab+dirty"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: commit}, {Key: "vcs.modified", Value: "true"}}},
			want: Info{Version: "v0.0.0-20260101000000-0123456789ab+dirty", Commit: commit, Modified: true, GoVersion: "go1.26.8", Platform: "os/arch"},
			text: "polyjobs v0.0.0-20260101000000-0123456789ab+dirty (commit 0123456789ab, modified, go1.26.8 os/arch)",
		},
		{
			name: "go install at a release",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: ModulePath, Version: "v1.2.3"}},
			want: Info{Version: "v1.2.3", GoVersion: "go1.26.8", Platform: "os/arch"},
			text: "polyjobs v1.2.3 (commit unknown, go1.26.8 os/arch)",
		},
		{
			name: "a test binary",
			bi:   debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: ModulePath, Version: Devel}},
			want: Info{Version: Devel, GoVersion: "go1.26.8", Platform: "os/arch"},
			text: "polyjobs (devel) (commit unknown, go1.26.8 os/arch)",
		},
		{
			name: "the SDK in another program",
			bi: debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "example.com/app", Version: "v9.9.9"},
				Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: commit}},
				Deps:     []*debug.Module{{Path: ModulePath, Version: "v1.4.0"}}},
			want: Info{Version: "v1.4.0", GoVersion: "go1.26.8", Platform: "os/arch"},
		},
		{
			name: "a replaced dependency",
			bi: debug.BuildInfo{Main: debug.Module{Path: "example.com/app"},
				Deps: []*debug.Module{{Path: ModulePath, Version: "v1.4.0", Replace: &debug.Module{Path: "../polyjobs"}}}},
			want: Info{Version: "v1.4.0", GoVersion: "go0", Platform: "os/arch"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(&tc.bi, base)
			if got != tc.want {
				t.Fatalf("got %+v; want %+v", got, tc.want)
			}
			if tc.text != "" && got.String() != tc.text {
				t.Fatalf("String() = %q; want %q", got.String(), tc.text)
			}
		})
	}
}

func TestRead(t *testing.T) {
	info := Read()
	if info.Version == "" || !strings.HasPrefix(info.GoVersion, "go") || !strings.Contains(info.Platform, "/") {
		t.Fatalf("Read() = %+v", info)
	}
}
