package experiment

// Doc describes a kind of target, fault, probe or load stream, for the JSON Schema and
// the format reference, which are generated from the same settings types
// the loader decodes into. The settings' keys describe themselves with
// doc:"..." struct tags.
type Doc struct {
	// Summary says in a sentence or a few what the kind does.
	Summary string
	// Example is the kind's settings as written in an experiment file, in
	// YAML flow style: {delay: 300ms, jitter: 50ms}. For a probe, Example
	// is its settings and Expect its expectations.
	Example string
	Expect  string
	// Default says what a probe without expect checks, for a report to
	// show beside its checks: "any 2xx status".
	Default string
	// Outputs lists what a step with as: NAME exposes as ${NAME.field}, one
	// "field: meaning" an item.
	Outputs []string
}

// Describer is implemented by catalogs that describe their kinds. A kind
// without a Doc still appears in the schema and the reference, with its
// keys only.
type Describer interface {
	DescribeTarget(kind string) Doc
	DescribeFault(targetKind, fault string) Doc
	DescribeProbe(kind string) Doc
	DescribeStream(kind string) Doc
}

// describer returns c's docs, or empty ones.
func describer(c Catalog) Describer {
	if d, ok := c.(Describer); ok {
		return d
	}
	return noDocs{}
}

type noDocs struct{}

func (noDocs) DescribeTarget(string) Doc        { return Doc{} }
func (noDocs) DescribeFault(string, string) Doc { return Doc{} }
func (noDocs) DescribeProbe(string) Doc         { return Doc{} }
func (noDocs) DescribeStream(string) Doc        { return Doc{} }
