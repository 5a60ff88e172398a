package proxy

func init() { register("down", func() Params { return &Down{} }) }

// Down takes the proxied service away: open connections are reset and new
// ones are refused. With Percent below 1, that share of new connections is
// accepted and reset instead, as the listener must stay open for the rest.
type Down struct{}

// Kind returns "down".
func (*Down) Kind() string { return "down" }

// Validate accepts every Down.
func (*Down) Validate() error { return nil }
