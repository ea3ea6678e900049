"""The languages a user types: prompt schedules (``schedule``, edited by ``schedule_edit``),
curves (``curves``; their values are read by ``expression``), easing, prompt lists, brackets."""
