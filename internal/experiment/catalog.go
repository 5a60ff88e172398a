package experiment

// Catalog tells the loader which kinds of targets, faults, probes and load streams exist
// and gives it a fresh settings value for each, to decode into. The settings
// types are plain structs with yaml tags; they may use this package's value
// types (Duration, Rate, Percent, Size, the Cond types, Regexp, Selection)
// and implement Defaulter and Validator.
type Catalog interface {
	// TargetKinds lists the target kinds, such as "process" and "docker".
	TargetKinds() []string
	// NewTarget returns a pointer to a new settings value for the target
	// kind, or nil when the kind is unknown.
	NewTarget(kind string) any
	// FaultNames lists the faults a target kind accepts.
	FaultNames(targetKind string) []string
	// NewFault returns a pointer to a new settings value for the fault on the
	// target kind, or nil when there is no such fault.
	NewFault(targetKind, fault string) any
	// ProbeKinds lists the probe kinds, such as "http" and "exec".
	ProbeKinds() []string
	// NewProbe returns pointers to new settings and expectation values for
	// the probe kind, or nils when the kind is unknown.
	NewProbe(kind string) (spec, expect any)
	// StreamKinds lists the load stream kinds, such as "http" and "exec".
	StreamKinds() []string
	// NewStream returns a pointer to a new settings value for the load
	// stream kind, or nil when the kind is unknown.
	NewStream(kind string) any
}
