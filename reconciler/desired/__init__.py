"""The desired side: schedule files found, read, validated, cached, and ids written back."""
