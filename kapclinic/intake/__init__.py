"""The intake questionnaire: instruments, screening rules, steps, encrypted answers."""
