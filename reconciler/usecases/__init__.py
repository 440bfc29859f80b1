"""What each command does, as functions of options: planning, applying, importing, running."""
