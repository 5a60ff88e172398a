package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/gamedayhq/chaos/internal/dirs"
	"github.com/gamedayhq/chaos/internal/experiment"
	"github.com/gamedayhq/chaos/internal/journal"
	"github.com/gamedayhq/chaos/internal/ledger"
	"github.com/gamedayhq/chaos/internal/report"
	"github.com/gamedayhq/chaos/internal/runner"
)

type runOptions struct {
	reportDir string
	junit     string
	ledgerDir string
	json      bool
	vars      []string
	dryRun    bool
	only      []string
	onlySet   bool // --only was given, even as an empty list
	seed      uint64
	verbose   bool
	dashboard bool
	notify    []string
	events    string
}

func newRunCmd(io *stdio) *cobra.Command {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run FILE...",
		Short: "Run experiments and report their verdicts",
		Long: `run carries out each experiment in turn: it starts the declared services
and load, checks the steady state before, runs the method while watching the
hypothesis and the abort conditions, reverts every fault, checks that the
system recovers, and writes journal.json, summary.md, report.html and
junit.xml into the report directory.

On the terminal, each event is one line, and each fault is named with its
strength (latency (delay 300ms)). Each experiment ends with its verdict,
how each broken check broke (its first and worst value, and the faults in
effect) and a table of each load stream's traffic: requests, success,
p50/p90/p99, max and errors by class, over the run and in each phase.
Several files end with a table of each file's verdict and the resilience
score.

Each call has one run ID, printed when each experiment starts with the seed
it uses, and written in every journal. Reports go to chaos-report/RUN-ID/
(or --report-dir); with several files, each experiment gets a sub-directory
named after its file (chaos-report/RUN-ID/NAME/) and the call a gameday
index.html. The report directories are created before anything runs: if
they cannot be, nothing is run (exit 2); reports that cannot be written
after a run make the exit code at least 4. The reports an earlier call
left where this one writes (the --junit file; with --report-dir, the
journal, reports and index pages in it and in each file's sub-directory)
are removed when the call starts, even if it then fails: what is left
there is this call's, or nothing, never an earlier verdict.

Every fault is reverted whatever happens: at the end of its for, at the end
of the method, on error, on an abort, and on Ctrl-C, SIGTERM, SIGHUP (a
closed terminal) or SIGQUIT (verdict interrupted). A closed output pipe
(chaos run | head) does not stop it. Faults, the services it starts, the
undo commands of exec steps and the rollbacks are recorded in a ledger
before they are made, and each run leaves a watchdog, a chaos process in a
session of its own: if chaos itself is killed (SIGKILL), the watchdog
reverts the faults, runs the undos and rollbacks and stops the services,
and 'chaos recover' removes whatever is left after that. A target that
another run in progress has a fault on is refused.

` + ledgerHelp + `

Each experiment gets its own verdict; the exit code is the worst of them:
passed 0, deviated 1, invalid input 2, aborted 3, error 4, revert-failed 5,
interrupted 130. An interrupt or a halt that keeps later experiments from
running makes it at least 130 or 3, whatever the ones that ran gave.`,
		Example: `  chaos run experiments/process-stop.yaml
  chaos run --dry-run experiments/process-stop.yaml
  chaos run --json --report-dir out experiments/*.yaml
  chaos run --only method experiments/proxy-latency.yaml  # a gameday: only inject
  chaos run --notify slack=$SLACK_WEBHOOK_URL --events run.jsonl experiments/proxy-latency.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			o.onlySet = cmd.Flags().Changed("only")
			err := runExperiments(cmd.Context(), io, files, o)
			var s silent
			if o.json && err != nil && !errors.As(err, &s) {
				// Failed before any result: the JSON says why.
				failureJSON(io, err)
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reportDir, "report-dir", "", "write reports into `DIR` (default chaos-report/RUN-ID; with several files, DIR/NAME for each file NAME.yaml; every experiment of the call has the same RUN-ID)")
	f.StringVar(&o.junit, "junit", "", "also write the JUnit XML of every experiment of this call to `FILE` (one not run after an interrupt or a halt is an error)")
	f.StringVar(&o.ledgerDir, "ledger", "", "keep the ledger in `DIR` (default: the state directory described above)")
	f.BoolVar(&o.json, "json", false, "write one JSON object on stdout: the results, the plans with --dry-run, or the problems of invalid files")
	f.StringArrayVar(&o.vars, "var", nil, "set a variable declared under vars: (`NAME=VALUE`, repeatable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "resolve the targets and print the plan without touching anything")
	f.StringSliceVar(&o.only, "only", nil, "run only these phases: before, method (or during), after (comma-separated)")
	f.Uint64Var(&o.seed, "seed", 0, "seed for random picks, to repeat a run exactly (default: random, printed)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "also print every load window and passing observation")
	f.BoolVar(&o.dashboard, "dashboard", false, "show the run full screen and steer it: a abort, s skip wait, h hold, c continue, q interrupt")
	f.StringArrayVar(&o.notify, "notify", nil, notifyHelp)
	f.StringVar(&o.events, "events", "", "write every event as a line of JSON to `FILE` as it happens (- for stdout)")
	return cmd
}

// result is one experiment's outcome as --json writes it.
type result struct {
	File      string          `json:"file"`
	Title     string          `json:"title"`
	RunID     string          `json:"run_id"`
	Seed      uint64          `json:"seed"`
	Verdict   string          `json:"verdict"`
	Reason    string          `json:"reason"`
	ExitCode  int             `json:"exit_code"`
	Started   time.Time       `json:"started"`
	Ended     time.Time       `json:"ended"`
	ReportDir string          `json:"report_dir"`
	Journal   string          `json:"journal"`
	Checks    []checkResult   `json:"checks"`
	Faults    []journal.Fault `json:"faults"`
	Steps     []journal.Step  `json:"steps"`
	Warnings  []string        `json:"warnings,omitempty"`
}

type checkResult struct {
	Name      string            `json:"name"`
	Abort     bool              `json:"abort,omitempty"`
	Results   map[string]string `json:"results"`
	Reasons   map[string]string `json:"reasons,omitempty"`
	Recovered *journal.Recovery `json:"recovered,omitempty"`
}

func runExperiments(ctx context.Context, io *stdio, files []string, o runOptions) error {
	if o.onlySet && len(o.only) == 0 {
		// --only "" (a CI variable left unset) would run every phase:
		// not what a call that names phases asks for.
		return withCode(exitUsage, fmt.Errorf("--only: no phase named: use %s", strings.Join(journal.RunPhases, ", ")))
	}
	for i, p := range o.only {
		if p == experiment.During {
			// The method is when checks with when: [during] run.
			o.only[i], p = journal.PhaseMethod, journal.PhaseMethod
		}
		if !slices.Contains(journal.RunPhases, p) {
			return withCode(exitUsage, fmt.Errorf("--only %s: not a phase: use %s", p, strings.Join(journal.RunPhases, ", ")))
		}
	}
	if o.junit != "" && !o.dryRun {
		if err := canWrite(o.junit); err != nil {
			return withCode(exitUsage, fmt.Errorf("--junit %s: %w", o.junit, err))
		}
	}
	if !o.dryRun {
		// What this call leaves in its report directories and in --junit
		// is its own or nothing: a call that fails before its reports are
		// written (an invalid file, a full disk) must not leave an earlier
		// run's, which would tell CI that run's verdict as this one's.
		if err := removeEarlierReports(o, files); err != nil {
			return err
		}
	}
	notifiers, err := parseNotify(o)
	if err != nil {
		return err
	}
	exps, err := loadAll(io, files, o.vars)
	if err != nil {
		return err
	}
	for _, e := range exps {
		for _, n := range notifiers {
			e.AddNotify(n)
		}
	}
	// The seed is picked before a dry run too, whose plan shows the
	// picks it makes.
	if o.seed == 0 {
		var b [8]byte
		rand.Read(b[:])
		o.seed = binary.LittleEndian.Uint64(b[:]) >> 1
	}
	seed := o.seed
	if o.dryRun {
		return dryRun(ctx, io, exps, o)
	}
	// Interrupts are caught from here on: one that comes while the
	// watchdog starts interrupts the first run at once, with nothing to
	// revert, instead of ending chaos by the signal's default action.
	sigs, stop := io.signals()
	defer stop()
	halts, stopHalts := io.haltSignals()
	defer stopHalts()
	halted := make(chan struct{})
	callDone := make(chan struct{})
	defer close(callDone)
	go func() {
		select {
		case <-halts:
			close(halted)
		case <-callDone:
		}
	}()

	// One run ID for the call: it names the default report directory and
	// is the run ID of every experiment's journal.
	runID := newRunID()
	base := o.reportDir
	if base == "" {
		base = filepath.Join("chaos-report", runID)
	}
	expDirs := experimentDirs(base, files)
	// Each experiment's name in the call, as its notifiers report it: a
	// pushgateway group of one must not be replaced by another's of the
	// same file name.
	names := experimentDirNames(files)
	// Where reports and ledgers go is checked before anything is touched:
	// a run whose reports cannot be written is not carried out.
	created, err := prepareReportDirs(base, expDirs, o.reportDir != "")
	// Directories made here and left empty (an experiment not run after an
	// interrupt, or an error before any) are removed at the end.
	defer dirs.RemoveEmpty(created)
	if err != nil {
		return err
	}
	if o.ledgerDir == "" {
		o.ledgerDir = ledger.DefaultDir()
	}
	if err := ledger.Prepare(o.ledgerDir); err != nil {
		return withCode(exitUsage, fmt.Errorf("--ledger %s: cannot keep the ledger there: %w", o.ledgerDir, err))
	}

	// The watchdog undoes what the run changed should chaos die before it
	// can (SIGKILL, a crash); it goes away when the run ends.
	wd, err := startWatchdog(io, o.ledgerDir, runID)
	if err != nil {
		return withCode(exitErr, fmt.Errorf("%w: without it, a fault could outlive a run that is killed", err))
	}
	defer wd.stop()

	events, closeEvents, err := openEvents(io, o.events)
	if err != nil {
		return err
	}
	defer closeEvents()

	fe, err := newFrontend(io, exps, o.dashboard, o.verbose)
	if err != nil {
		return err
	}
	defer fe.close()
	sigs = fe.signals(sigs)
	var results []result
	var journals []*journal.Journal
	var dirs []string
	// Why each experiment's reports were not written, for the gameday's.
	var unwritten []string
	worst := exitPassed
	// What stopped the call before its last experiment, and the verdict
	// the stop gives the call, which its gameday index is headed by.
	stoppedBy, stopped := "", ""
	for i, e := range exps {
		dir := expDirs[i]
		rctx, cancel := context.WithCancelCause(ctx)
		done := make(chan struct{})
		shown := fe.start(i)
		go watchSignals(shown, sigs, cancel, done)
		j := runner.Run(rctx, e, runner.Options{
			RunID:       runID,
			ReportDir:   dir,
			LedgerDir:   o.ledgerDir,
			ToolVersion: toolVersion(),
			Only:        o.only,
			Seed:        seed + uint64(i),
			Sinks:       append([]journal.Sink{fe.sink(i)}, notifySinks(shown.err, e, names[i], events)...),
			Commands:    withHalt(fe.commands(i), halted, done),
			Protected:   map[int]string{wd.pid(): "chaos's watchdog"},
		})
		close(done)
		interrupted := rctx.Err() != nil
		cancel(nil)
		paths, werr := writeReports(j, dir)
		code := verdictCode(j.Verdict)
		worst = worse(worst, code)
		if werr != nil {
			// The verdict stands, but the call failed to leave its record.
			fmt.Fprintf(shown.err, "chaos: %v\n", werr)
			worst = worse(worst, exitErr)
		}
		fe.finished(i, j, paths)
		appendStepSummary(io, paths["summary"])
		if werr != nil {
			// Nor would the job summary say that it ran at all.
			appendStepSummaryText(io, fmt.Sprintf("# ⚠️ %s: %s\n\nIts reports were not written: %v\n", j.Title, j.Verdict, werr))
		}
		res := toResult(j, code, paths)
		if werr != nil {
			res.Warnings = append(res.Warnings, "reports not written: "+werr.Error())
		}
		results = append(results, res)
		journals = append(journals, j)
		why := ""
		if werr != nil {
			why = werr.Error()
		}
		unwritten = append(unwritten, why)
		rel, _ := filepath.Rel(base, dir)
		dirs = append(dirs, filepath.ToSlash(rel))
		// An experiment's verdict may be decided before the interrupt or
		// halt that stops the call (while its notifiers flush): the call
		// still did not run the experiments after it, and must not exit
		// as if it had (an interrupt is 130, a halt an abort).
		last := i == len(exps)-1
		if interrupted {
			if !last {
				stoppedBy, stopped = "interrupted", journal.Interrupted
				worst = worse(worst, exitInterrupted)
			}
			break
		}
		if closed(halted) {
			if !last {
				fmt.Fprintln(shown.err, "chaos: halted by chaos halt: no further experiment is run")
				stoppedBy, stopped = "halted by chaos halt", journal.Aborted
				worst = worse(worst, exitAborted)
			}
			break
		}
	}
	fe.close()
	var notRun []string
	gameday := report.Gameday{Journals: journals, Dirs: dirs, Unwritten: unwritten, Stopped: stopped, StoppedBy: stoppedBy}
	for _, e := range exps[len(journals):] {
		notRun = append(notRun, e.File)
		gameday.NotRun = append(gameday.NotRun, report.NotRun{Title: e.Title, File: e.File})
	}
	if len(exps) > 1 {
		if p, err := writeIndex(base, gameday); err != nil {
			fmt.Fprintf(io.err, "chaos: %v\n", err)
			worst = worse(worst, exitErr)
		} else {
			fmt.Fprintf(io.err, "\n%s  report: %s\n", report.GamedayText(gameday), p)
		}
		// The job summary holds each experiment's summary, headed by its
		// own verdict: the gameday's table, headed by the worst, ends it,
		// without links, which would not lead anywhere from there.
		unlinked := gameday
		unlinked.Dirs = nil
		if b, err := report.IndexMarkdown(unlinked); err == nil {
			appendStepSummaryText(io, string(b))
		}
	}
	if len(notRun) > 0 {
		fmt.Fprintf(io.err, "chaos: %d of %d experiments not run (%s): %s\n", len(notRun), len(exps), stoppedBy, strings.Join(notRun, ", "))
		// The job summary holds the summaries of the experiments that
		// ran: without this, all passed would read as the gameday's.
		appendStepSummaryText(io, fmt.Sprintf("# ⏭️ %d of %d experiments not run (%s)\n\n%s\n", len(notRun), len(exps), stoppedBy,
			"- "+strings.Join(notRun, "\n- ")))
	}
	if o.junit != "" {
		if err := writeJUnit(o.junit, gameday); err != nil {
			fmt.Fprintf(io.err, "chaos: %v\n", err)
			worst = worse(worst, exitErr)
		}
	}
	if o.json {
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		enc.Encode(struct {
			ExitCode    int      `json:"exit_code"`
			Experiments []result `json:"experiments"`
			// NotRun are the files of the experiments an interrupt or a
			// halt kept from running.
			NotRun []string `json:"not_run,omitempty"`
		}{worst, results, notRun})
	}
	if worst != exitPassed {
		return silent(worst)
	}
	return nil
}

// withHalt passes the operator's commands on to a run, and Halt once
// halted is closed, until done is.
func withHalt(cmds <-chan journal.Command, halted, done <-chan struct{}) <-chan journal.Command {
	out := make(chan journal.Command)
	go func() {
		for {
			var c journal.Command
			select {
			case <-done:
				return
			case cmd, ok := <-cmds:
				if !ok {
					cmds = nil
					continue
				}
				c = cmd
			case <-halted:
				halted, c = nil, journal.Halt
			}
			select {
			case out <- c:
			case <-done:
				return
			}
		}
	}()
	return out
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// signalCause names the signal that stopped a run, as the run's verdict
// tells it: "SIGINT".
func signalCause(s os.Signal) error {
	if n, ok := s.(syscall.Signal); ok {
		if sig, err := experiment.ParseSignal(strconv.Itoa(int(n))); err == nil {
			return errors.New(sig.Name)
		}
	}
	return errors.New(s.String())
}

// watchSignals cancels the run on the first interrupt. Later ones do not
// skip the revert: they say it is in progress.
func watchSignals(io *stdio, sigs <-chan os.Signal, cancel context.CancelCauseFunc, done <-chan struct{}) {
	first := true
	for {
		select {
		case <-done:
			return
		case s := <-sigs:
			if first {
				first = false
				fmt.Fprintf(io.err, "chaos: %s: reverting every fault, then stopping\n", s)
				cancel(signalCause(s))
				continue
			}
			fmt.Fprintln(io.err, "chaos: revert in progress; waiting for it to finish so that no fault is left behind")
		}
	}
}

// verdictCode is the one place verdicts become exit codes.
func verdictCode(verdict string) int {
	switch verdict {
	case journal.Passed:
		return exitPassed
	case journal.Deviated:
		return exitDeviated
	case journal.Aborted:
		return exitAborted
	case journal.RevertFailed:
		return exitRevertFailed
	case journal.Interrupted:
		return exitInterrupted
	}
	return exitErr
}

// worse picks the exit code that matters more: a fault left behind beats
// an interrupt, which beats an error, an abort and a deviation.
func worse(a, b int) int {
	rank := func(c int) int {
		return slices.Index([]int{exitPassed, exitDeviated, exitAborted, exitErr, exitInterrupted, exitRevertFailed}, c)
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// prepareReportDirs creates the report directories of a call and checks
// that files can be written in them. It returns the directories it created,
// parents first. flag says the base came from --report-dir.
func prepareReportDirs(base string, expDirs []string, flag bool) ([]string, error) {
	var created []string
	for _, dir := range append([]string{base}, expDirs...) {
		c, err := dirs.Make(dir)
		created = append(created, c...)
		if err != nil {
			what := "report directory " + base
			if flag {
				what = "--report-dir " + base
			}
			if filepath.Clean(dir) != filepath.Clean(base) {
				what += " (for " + dir + ")"
			}
			return created, withCode(exitUsage, fmt.Errorf("%s: cannot write reports there: %w", what, err))
		}
	}
	return created, nil
}

func newRunID() string {
	var b [3]byte
	rand.Read(b[:])
	return time.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// experimentDirNames names the experiments' report directories inside a
// gameday's: each file's base name without its extension, numbered with
// its place on the command line when two files share it. A name stays
// inside the gameday's directory whatever the file is called: it is never
// empty, never starts with a dot (a file named "...yaml" would otherwise
// write into the parent), is at most maxDirName bytes, and no two are the
// same.
func experimentDirNames(files []string) []string {
	names := make([]string, len(files))
	count := map[string]int{}
	for i, file := range files {
		base := filepath.Base(file)
		base = strings.TrimLeft(strings.TrimSuffix(base, filepath.Ext(base)), ".")
		if base == "" {
			base = "experiment"
		}
		for len(base) > maxDirName {
			_, size := utf8.DecodeLastRuneInString(base)
			base = base[:len(base)-size]
		}
		names[i] = base
		count[base]++
	}
	taken := map[string]bool{}
	for i, n := range names {
		if count[n] > 1 {
			n = fmt.Sprintf("%d-%s", i+1, n)
		}
		// A file may itself be named like a numbered one ("1-x.yaml").
		for k := 2; taken[n]; k++ {
			n = fmt.Sprintf("%s-%d", names[i], k)
		}
		names[i] = n
		taken[n] = true
	}
	return names
}

// experimentDirs are the report directories of a call's experiments, one
// per file: base itself for a single file, else base/NAME.
func experimentDirs(base string, files []string) []string {
	dirs := make([]string, len(files))
	names := experimentDirNames(files)
	for i := range files {
		dirs[i] = base
		if len(files) > 1 {
			dirs[i] = filepath.Join(base, names[i])
		}
	}
	return dirs
}

// reportFiles are the files chaos run writes into a report directory: the
// journal, each format's report and the gameday's index pages.
func reportFiles() []string {
	names := []string{"journal.json"}
	for _, f := range report.Formats {
		for _, n := range []string{f.File, f.Index} {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}

// removeEarlierReports removes, before a call runs anything, the reports
// an earlier call left where this one writes its own: the --junit file,
// and with --report-dir the journal, reports and index pages in it and in
// the directory of each of its files. Nothing else is touched: not the
// directories of files this call does not run, nor anything chaos does
// not write. A default report directory is new to each call.
func removeEarlierReports(o runOptions, files []string) error {
	var paths []string
	if o.junit != "" {
		paths = append(paths, o.junit)
	}
	if o.reportDir != "" {
		dirs := []string{o.reportDir}
		if len(files) > 1 {
			dirs = append(dirs, experimentDirs(o.reportDir, files)...)
		}
		for _, d := range dirs {
			for _, n := range reportFiles() {
				paths = append(paths, filepath.Join(d, n))
			}
		}
	}
	var inputs []os.FileInfo
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			inputs = append(inputs, fi)
		}
	}
	for _, p := range paths {
		fi, err := os.Lstat(p)
		if err != nil || fi.IsDir() {
			continue // none, or not one chaos wrote
		}
		if st, err := os.Stat(p); err == nil && slices.ContainsFunc(inputs, func(in os.FileInfo) bool { return os.SameFile(in, st) }) {
			return withCode(exitUsage, fmt.Errorf("%s is an experiment file of this call: its reports would overwrite it", p))
		}
		if err := os.Remove(p); err != nil {
			return withCode(exitUsage, fmt.Errorf("cannot remove %s, an earlier run's report, which this call's would replace: %w", p, err))
		}
	}
	return nil
}

// maxDirName bounds an experiment's report directory name, which a number
// may lengthen, well under the 255 bytes file systems allow.
const maxDirName = 200

// writeReports writes the journal and, rendered from it, every report
// format's file next to it: the summary, the HTML report, the JUnit XML.
func writeReports(j *journal.Journal, dir string) (map[string]string, error) {
	paths := map[string]string{}
	p, err := j.Write(dir)
	if err != nil {
		return paths, err
	}
	paths["journal"] = p
	// Render from the journal as written, as chaos report does: the times
	// read back carry no monotonic clock reading, so that the durations
	// between them come out the same to the microsecond in both.
	saved, err := journal.Read(p)
	if err != nil {
		return paths, err
	}
	in := report.Input{Journals: []*journal.Journal{saved}, Logs: serviceLogs(saved, dir)}
	// One report that cannot be written does not keep the others from
	// being: the summary and the JUnit XML CI reads are written whatever
	// happens to the HTML report.
	var errs []error
	for _, f := range report.Formats {
		if f.File == "" {
			continue
		}
		b, err := f.Render(in)
		if err != nil {
			errs = append(errs, fmt.Errorf("render %s: %w", f.File, err))
			continue
		}
		path := filepath.Join(dir, f.File)
		if err := os.WriteFile(path, b, 0o644); err != nil {
			os.Remove(path) // not half a report
			errs = append(errs, fmt.Errorf("write %s: %w", f.File, err))
			continue
		}
		paths[f.Key] = path
	}
	return paths, errors.Join(errs...)
}

// serviceLogs reads the services' logs for the HTML report. A log is read
// only from inside the report directory: a journal from elsewhere must not
// put any file it names into a report that is then shared.
func serviceLogs(j *journal.Journal, dir string) map[string]string {
	logs := map[string]string{}
	for _, s := range j.Services {
		if s.Log == "" || !filepath.IsLocal(s.Log) {
			continue
		}
		if b, err := os.ReadFile(filepath.Join(dir, s.Log)); err == nil {
			logs[s.Log] = string(b)
		}
	}
	return logs
}

// writeIndex writes the gameday pages of a call with several experiments
// and returns the path of the HTML one.
func writeIndex(base string, g report.Gameday) (string, error) {
	var page string
	for _, f := range report.Formats {
		if f.Index == "" {
			continue
		}
		b, err := f.IndexRender(g)
		if err != nil {
			return "", fmt.Errorf("render %s: %w", f.Index, err)
		}
		p := filepath.Join(base, f.Index)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return "", fmt.Errorf("write index: %w", err)
		}
		if page == "" {
			page = p
		}
	}
	return page, nil
}

// canWrite says why path cannot be written as a file, before a run whose
// result would be lost at its end: its directory is made as writeJUnit
// would make it, and a file that was not there is not left behind.
func canWrite(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return errors.New("is a directory")
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	switch {
	case err == nil:
		f.Close()
		return os.Remove(path)
	case errors.Is(err, fs.ErrExist):
		f, err = os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		return f.Close()
	default:
		return err
	}
}

func writeJUnit(path string, g report.Gameday) error {
	b, err := report.GamedayJUnit(g)
	if err != nil {
		return fmt.Errorf("render JUnit: %w", err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("write JUnit: %w", err)
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("write JUnit: %w", err)
	}
	return nil
}

func toResult(j *journal.Journal, code int, paths map[string]string) result {
	r := result{File: j.File, Title: j.Title, RunID: j.RunID, Seed: j.Seed, Verdict: j.Verdict, Reason: j.Reason, ExitCode: code,
		Started: j.Started, Ended: j.Ended, ReportDir: j.ReportDir, Journal: paths["journal"],
		Faults: j.Faults, Steps: j.Steps, Warnings: j.Warnings}
	for _, c := range j.Checks {
		r.Checks = append(r.Checks, checkResult{Name: c.Name, Abort: c.Abort, Results: c.Results, Reasons: c.Reasons, Recovered: c.Recovered})
	}
	return r
}

// printSummary ends an experiment's output with its verdict, its checks,
// its load and where the reports are.
func printSummary(io *stdio, j *journal.Journal, paths map[string]string) {
	w := io.err
	fmt.Fprintf(w, "\n%s", report.Text(j))
	if p := paths["html"]; p != "" {
		fmt.Fprintf(w, "  report: %s\n", p)
	}
	if p := paths["summary"]; p != "" {
		fmt.Fprintf(w, "  summary: %s\n", p)
	}
}

// appendStepSummary adds the run's summary to the GitHub Actions job
// summary when chaos runs there.
func appendStepSummary(io *stdio, summary string) {
	if summary == "" {
		return
	}
	b, err := os.ReadFile(summary)
	if err != nil {
		return
	}
	appendStepSummaryText(io, string(b))
}

// appendStepSummaryText adds text to the GitHub Actions job summary when
// chaos runs there.
func appendStepSummaryText(io *stdio, text string) {
	target, ok := io.lookupEnv("GITHUB_STEP_SUMMARY")
	if !ok || target == "" {
		return
	}
	f, err := os.OpenFile(target, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintf(io.err, "chaos: write GITHUB_STEP_SUMMARY: %v\n", err)
		return
	}
	defer f.Close()
	f.Write([]byte(text + "\n"))
}
