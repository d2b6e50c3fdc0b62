"""Training the offline models: the shared loop and one module (and command) per model, plus the schedule search."""
