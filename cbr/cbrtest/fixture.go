package cbrtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/restorepoint/restorepoint/otc"
)

// Ids, names and sizes of DefaultFixture. The example vault and server are
// those of the API page's example request and response.
const (
	// ExampleVaultID is vault "vault-be94", retention -1 (forever).
	ExampleVaultID   = "3b5816b5-f29c-4172-9d9a-76c719a659ce"
	ExampleVaultName = "vault-be94"
	// ExampleServerID is server "ecs-1f0f-0002", 40 GB, in ExampleVaultID.
	ExampleServerID     = "94eba8b2-acc9-4d82-badc-127144cc5526"
	ExampleServerName   = "ecs-1f0f-0002"
	ExampleServerSizeGB = 40

	// DemoServerID is server "web-1", 20 GB, in ExampleVaultID.
	DemoServerID   = "5f0c9a3e-7b1d-4e2a-9c64-1d2e3f4a5b6c"
	DemoServerName = "web-1"
	// DemoVolumeID is volume "web-data", 100 GB, in ExampleVaultID.
	DemoVolumeID   = "a1c3e5f7-2b4d-4f68-8a0c-3e5f7a9b1c2d"
	DemoVolumeName = "web-data"
	// DemoDataVolumeID is volume "db-data", 200 GB, in ExampleVaultID.
	DemoDataVolumeID   = "c7d9e1f3-4a6b-4c8d-9e0f-5a7b9c1d3e5f"
	DemoDataVolumeName = "db-data"

	// WeeklyVaultID is vault "vault-weekly", retention 7 days.
	WeeklyVaultID   = "e2f4a6b8-9c1d-4e3f-8a5b-7c9d1e3f5a7b"
	WeeklyVaultName = "vault-weekly"
	// WeeklyServerID is server "db-1", 80 GB, in WeeklyVaultID.
	WeeklyServerID   = "2d4f6a8c-1e3b-4d5f-a7c9-0b2d4f6a8c1e"
	WeeklyServerName = "db-1"
	// WeeklyTurboID is SFS Turbo file system "share-1", 500 GB, in WeeklyVaultID.
	WeeklyTurboID   = "8b0d2f4a-6c8e-4a1b-9d3f-5e7a9c1b3d5f"
	WeeklyTurboName = "share-1"
)

// Fixture is the emulated account: its vaults and the resources in them.
type Fixture struct {
	// Vaults of the account.
	Vaults []FixtureVault `json:"vaults"`
}

// FixtureVault is one vault of a Fixture.
type FixtureVault struct {
	// ID and Name of the vault.
	ID   string `json:"id"`
	Name string `json:"name"`
	// RetentionDuration is reported in checkpoint extra_info, in days;
	// 0 (or absent) means -1, kept forever.
	RetentionDuration int `json:"retention_duration"`
	// Resources associated with the vault.
	Resources []FixtureResource `json:"resources"`
}

// FixtureResource is one resource associated with a vault.
type FixtureResource struct {
	// ID and Name of the resource.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is otc.TypeServer, otc.TypeVolume or otc.TypeSFSTurbo.
	Type string `json:"type"`
	// SizeGB is the allocated capacity, reported as resource_size.
	SizeGB int `json:"size_gb"`
}

// DefaultFixture returns the fixture the emulator uses unless told otherwise:
// the page's example vault with its server, a second server and two volumes,
// and a second vault with a server and an SFS Turbo file system.
func DefaultFixture() Fixture {
	return Fixture{Vaults: []FixtureVault{
		{
			ID: ExampleVaultID, Name: ExampleVaultName, RetentionDuration: -1,
			Resources: []FixtureResource{
				{ID: ExampleServerID, Name: ExampleServerName, Type: otc.TypeServer, SizeGB: ExampleServerSizeGB},
				{ID: DemoServerID, Name: DemoServerName, Type: otc.TypeServer, SizeGB: 20},
				{ID: DemoVolumeID, Name: DemoVolumeName, Type: otc.TypeVolume, SizeGB: 100},
				{ID: DemoDataVolumeID, Name: DemoDataVolumeName, Type: otc.TypeVolume, SizeGB: 200},
			},
		},
		{
			ID: WeeklyVaultID, Name: WeeklyVaultName, RetentionDuration: 7,
			Resources: []FixtureResource{
				{ID: WeeklyServerID, Name: WeeklyServerName, Type: otc.TypeServer, SizeGB: 80},
				{ID: WeeklyTurboID, Name: WeeklyTurboName, Type: otc.TypeSFSTurbo, SizeGB: 500},
			},
		},
	}}
}

// LoadFixture reads and validates a JSON fixture file.
func LoadFixture(path string) (Fixture, error) {
	f, err := os.Open(path)
	if err != nil {
		return Fixture{}, fmt.Errorf("load fixture: %w", err)
	}
	defer f.Close()
	fx, err := ParseFixture(f)
	if err != nil {
		return Fixture{}, fmt.Errorf("load fixture %s: %w", path, err)
	}
	return fx, nil
}

// ParseFixture decodes and validates a JSON fixture such as
// {"vaults":[{"id":..,"name":..,"retention_duration":7,"resources":[{"id":..,
// "name":..,"type":"OS::Nova::Server","size_gb":40}]}]}. Unknown fields are
// errors, to catch misspellings.
func ParseFixture(r io.Reader) (Fixture, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var fx Fixture
	if err := dec.Decode(&fx); err != nil {
		return Fixture{}, fmt.Errorf("parse fixture: %w", err)
	}
	if dec.More() {
		return Fixture{}, errors.New("parse fixture: data after the fixture object")
	}
	if err := fx.Validate(); err != nil {
		return Fixture{}, err
	}
	return fx, nil
}

// Validate reports the first problem of f: a vault or resource without an id,
// an id used twice (a resource may be in one vault only), an unknown resource
// type or a negative size.
func (f Fixture) Validate() error {
	vaults := make(map[string]bool)
	resources := make(map[string]bool)
	for i, v := range f.Vaults {
		switch {
		case v.ID == "":
			return fmt.Errorf("fixture: vaults[%d]: id is empty", i)
		case vaults[v.ID]:
			return fmt.Errorf("fixture: vaults[%d]: duplicate vault id %q", i, v.ID)
		}
		vaults[v.ID] = true
		for j, r := range v.Resources {
			switch {
			case r.ID == "":
				return fmt.Errorf("fixture: vaults[%d].resources[%d]: id is empty", i, j)
			case resources[r.ID]:
				return fmt.Errorf("fixture: vaults[%d].resources[%d]: resource %q is in more than one vault", i, j, r.ID)
			case !validType(r.Type):
				return fmt.Errorf("fixture: vaults[%d].resources[%d]: type %q is not %s, %s or %s",
					i, j, r.Type, otc.TypeServer, otc.TypeVolume, otc.TypeSFSTurbo)
			case r.SizeGB < 0:
				return fmt.Errorf("fixture: vaults[%d].resources[%d]: size_gb %d is negative", i, j, r.SizeGB)
			}
			resources[r.ID] = true
		}
	}
	return nil
}

// clone returns a deep copy of f.
func (f Fixture) clone() Fixture {
	out := Fixture{Vaults: slices.Clone(f.Vaults)}
	for i := range out.Vaults {
		out.Vaults[i].Resources = slices.Clone(out.Vaults[i].Resources)
	}
	return out
}

// resource returns the resource id of v.
func (v *FixtureVault) resource(id string) (FixtureResource, bool) {
	for _, r := range v.Resources {
		if r.ID == id {
			return r, true
		}
	}
	return FixtureResource{}, false
}

// retention returns the retention_duration to report for v.
func (v *FixtureVault) retention() int {
	if v.RetentionDuration == 0 {
		return -1
	}
	return v.RetentionDuration
}

// validType reports whether t is a resource type the API accepts.
func validType(t string) bool {
	return t == otc.TypeServer || t == otc.TypeVolume || t == otc.TypeSFSTurbo
}
