package resource

// WorkerCommand is the hidden chaos command that runs a worker; see
// WorkerMain.
const WorkerCommand = "stress-worker"
