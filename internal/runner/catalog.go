package runner

import (
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/inject"
	"github.com/gamedayhq/chaos/internal/load"
	"github.com/gamedayhq/chaos/internal/probe"
)

// Catalog is the experiment.Catalog of every registered target, fault,
// probe and load stream kind.
type Catalog struct{}

// TargetKinds lists the target kinds.
func (Catalog) TargetKinds() []string { return inject.TargetKinds() }

// NewTarget returns new settings for a target kind.
func (Catalog) NewTarget(kind string) any {
	k, ok := inject.LookupTarget(kind)
	if !ok {
		return nil
	}
	return k.New()
}

// FaultNames lists the faults of a target kind.
func (Catalog) FaultNames(targetKind string) []string { return inject.FaultNames(targetKind) }

// NewFault returns new settings for a fault.
func (Catalog) NewFault(targetKind, fault string) any {
	k, ok := inject.LookupFault(targetKind, fault)
	if !ok {
		return nil
	}
	return k.New()
}

// ProbeKinds lists the probe kinds.
func (Catalog) ProbeKinds() []string { return probe.Kinds() }

// NewProbe returns new settings and expectations for a probe kind.
func (Catalog) NewProbe(kind string) (spec, expect any) {
	k, ok := probe.Lookup(kind)
	if !ok {
		return nil, nil
	}
	return k.New()
}

// StreamKinds lists the load stream kinds.
func (Catalog) StreamKinds() []string { return load.Kinds() }

// NewStream returns new settings for a load stream kind.
func (Catalog) NewStream(kind string) any {
	k, ok := load.LookupKind(kind)
	if !ok {
		return nil
	}
	return k.New()
}

// DescribeTarget returns a target kind's doc.
func (Catalog) DescribeTarget(kind string) experiment.Doc {
	if k, ok := inject.LookupTarget(kind); ok {
		return k.Doc
	}
	return experiment.Doc{}
}

// DescribeFault returns a fault's doc.
func (Catalog) DescribeFault(targetKind, fault string) experiment.Doc {
	if k, ok := inject.LookupFault(targetKind, fault); ok {
		return k.Doc
	}
	return experiment.Doc{}
}

// DescribeProbe returns a probe kind's doc.
func (Catalog) DescribeProbe(kind string) experiment.Doc {
	if k, ok := probe.Lookup(kind); ok {
		return k.Doc
	}
	return experiment.Doc{}
}

// DescribeStream returns a load stream kind's doc.
func (Catalog) DescribeStream(kind string) experiment.Doc {
	if k, ok := load.LookupKind(kind); ok {
		return k.Doc
	}
	return experiment.Doc{}
}

var (
	_ experiment.Catalog   = Catalog{}
	_ experiment.Describer = Catalog{}
)
