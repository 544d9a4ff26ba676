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

	// ServerVaultID is vault "vault-servers", a server vault of
	// ServerVaultSizeGB that holds no resource until one is associated.
	ServerVaultID     = "6a8c0e2f-3b5d-4f7a-9c1e-2f4a6c8e0b3d"
	ServerVaultName   = "vault-servers"
	ServerVaultSizeGB = 200
	// UnassociatedServerID is server "web-2", 30 GB, in no vault.
	UnassociatedServerID   = "4e6a8c0b-2d4f-4a6c-8e0b-1d3f5a7c9e2b"
	UnassociatedServerName = "web-2"
	// UnassociatedVolumeID is volume "web-2-data", 50 GB, in no vault.
	UnassociatedVolumeID   = "9f1b3d5e-7a9c-4b1d-8f3a-5c7e9b1d3f6a"
	UnassociatedVolumeName = "web-2-data"
)

// Vault types, as FixtureVault.Type and the vault's billing.object_type say
// them: which resource type a vault holds.
const (
	VaultTypeServer = "server" // servers (otc.TypeServer)
	VaultTypeDisk   = "disk"   // volumes (otc.TypeVolume)
	VaultTypeTurbo  = "turbo"  // SFS Turbo file systems (otc.TypeSFSTurbo)
)

// DefaultVaultSizeGB is the capacity of a vault whose fixture gives none.
const DefaultVaultSizeGB = 1024

// Fixture is the emulated account: its vaults, the resources associated
// with them, and resources that exist in the cloud but are in no vault yet.
type Fixture struct {
	// Vaults of the account.
	Vaults []FixtureVault `json:"vaults"`
	// Unassociated are servers, volumes and SFS Turbo file systems in no
	// vault: POST .../vaults/{vault_id}/addresources can associate them.
	Unassociated []FixtureResource `json:"unassociated,omitempty"`
}

// FixtureVault is one vault of a Fixture.
type FixtureVault struct {
	// ID and Name of the vault.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is VaultTypeServer, VaultTypeDisk or VaultTypeTurbo: the one
	// resource type the vault holds, reported as billing.object_type. ""
	// means a vault that holds every type and reports no object_type (the
	// emulator's own kind, for fixtures written before vaults had a type).
	Type string `json:"type,omitempty"`
	// RetentionDuration is reported in checkpoint extra_info, in days;
	// 0 (or absent) means -1, kept forever.
	RetentionDuration int `json:"retention_duration"`
	// SizeGB is the vault's capacity, reported as billing.allocated; 0 means
	// DefaultVaultSizeGB.
	SizeGB int `json:"size_gb,omitempty"`
	// UsedGB is the capacity in use, reported as billing.used. It does not
	// grow with backups. A vault whose UsedGB reaches its capacity is full:
	// it refuses new checkpoints and associations with BackupService.6114.
	UsedGB int `json:"used_gb,omitempty"`
	// Resources associated with the vault.
	Resources []FixtureResource `json:"resources"`
}

// FixtureResource is one resource of the cloud, in a vault or not.
type FixtureResource struct {
	// ID and Name of the resource.
	ID   string `json:"id"`
	Name string `json:"name"`
	// Type is otc.TypeServer, otc.TypeVolume or otc.TypeSFSTurbo.
	Type string `json:"type"`
	// SizeGB is the allocated capacity, reported as resource_size.
	SizeGB int `json:"size_gb"`
	// Fail makes every backup of the resource end in "error" instead of
	// "available" (see Emulator.FailResource).
	Fail bool `json:"fail,omitempty"`
}

// DefaultFixture returns the fixture the emulator uses unless told otherwise:
// the page's example vault with its server, a second server and two volumes;
// a second vault with a server and an SFS Turbo file system (both vaults of
// no type, holding every type); an empty server vault; and a server and a
// volume in no vault.
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
		{ID: ServerVaultID, Name: ServerVaultName, Type: VaultTypeServer, RetentionDuration: -1, SizeGB: ServerVaultSizeGB},
	}, Unassociated: []FixtureResource{
		{ID: UnassociatedServerID, Name: UnassociatedServerName, Type: otc.TypeServer, SizeGB: 30},
		{ID: UnassociatedVolumeID, Name: UnassociatedVolumeName, Type: otc.TypeVolume, SizeGB: 50},
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
// {"vaults":[{"id":..,"name":..,"type":"server","retention_duration":7,
// "size_gb":500,"used_gb":0,"resources":[{"id":..,"name":..,
// "type":"OS::Nova::Server","size_gb":40,"fail":false}]}],
// "unassociated":[{"id":..,"name":..,"type":"OS::Cinder::Volume","size_gb":10}]}.
// Unknown fields are errors, to catch misspellings.
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
// an id used twice (a resource is in one vault at most), an unknown vault or
// resource type, a resource whose type its vault does not hold, a negative
// size, or a vault using more than its capacity.
func (f Fixture) Validate() error {
	vaults := make(map[string]bool)
	resources := make(map[string]bool)
	checkResource := func(where string, r FixtureResource, vaultType string) error {
		switch {
		case r.ID == "":
			return fmt.Errorf("fixture: %s: id is empty", where)
		case resources[r.ID]:
			return fmt.Errorf("fixture: %s: resource %q is listed more than once: a resource is in one vault at most", where, r.ID)
		case !otc.ValidResourceType(r.Type):
			return fmt.Errorf("fixture: %s: type %q is not %s, %s or %s",
				where, r.Type, otc.TypeServer, otc.TypeVolume, otc.TypeSFSTurbo)
		case !vaultHolds(vaultType, r.Type):
			return fmt.Errorf("fixture: %s: a %s vault does not hold %s", where, vaultType, r.Type)
		case r.SizeGB < 0:
			return fmt.Errorf("fixture: %s: size_gb %d is negative", where, r.SizeGB)
		}
		resources[r.ID] = true
		return nil
	}
	for i, v := range f.Vaults {
		switch {
		case v.ID == "":
			return fmt.Errorf("fixture: vaults[%d]: id is empty", i)
		case vaults[v.ID]:
			return fmt.Errorf("fixture: vaults[%d]: duplicate vault id %q", i, v.ID)
		case v.Type != "" && v.Type != VaultTypeServer && v.Type != VaultTypeDisk && v.Type != VaultTypeTurbo:
			return fmt.Errorf("fixture: vaults[%d]: type %q is not %s, %s, %s or empty",
				i, v.Type, VaultTypeServer, VaultTypeDisk, VaultTypeTurbo)
		case v.SizeGB < 0:
			return fmt.Errorf("fixture: vaults[%d]: size_gb %d is negative", i, v.SizeGB)
		case v.UsedGB < 0 || v.UsedGB > v.capacity():
			return fmt.Errorf("fixture: vaults[%d]: used_gb %d is not 0 to the capacity %d", i, v.UsedGB, v.capacity())
		}
		vaults[v.ID] = true
		for j, r := range v.Resources {
			if err := checkResource(fmt.Sprintf("vaults[%d].resources[%d]", i, j), r, v.Type); err != nil {
				return err
			}
		}
	}
	for i, r := range f.Unassociated {
		if err := checkResource(fmt.Sprintf("unassociated[%d]", i), r, ""); err != nil {
			return err
		}
	}
	return nil
}

// clone returns a deep copy of f.
func (f Fixture) clone() Fixture {
	out := Fixture{Vaults: slices.Clone(f.Vaults), Unassociated: slices.Clone(f.Unassociated)}
	for i := range out.Vaults {
		out.Vaults[i].Resources = slices.Clone(out.Vaults[i].Resources)
	}
	return out
}

// capacity returns the capacity of v in GB.
func (v *FixtureVault) capacity() int {
	if v.SizeGB == 0 {
		return DefaultVaultSizeGB
	}
	return v.SizeGB
}

// retention returns the retention_duration to report for v.
func (v *FixtureVault) retention() int {
	if v.RetentionDuration == 0 {
		return -1
	}
	return v.RetentionDuration
}

// vaultHolds reports whether a vault of vaultType holds resources of
// resourceType; a vault without a type holds every type.
func vaultHolds(vaultType, resourceType string) bool {
	switch vaultType {
	case VaultTypeServer:
		return resourceType == otc.TypeServer
	case VaultTypeDisk:
		return resourceType == otc.TypeVolume
	case VaultTypeTurbo:
		return resourceType == otc.TypeSFSTurbo
	}
	return true
}
