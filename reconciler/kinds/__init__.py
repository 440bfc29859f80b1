"""What is specific to each kind of delivery (data schedules), each in one place."""
