"""Citizens' reports and the closed loop 闭环: intake from every channel, automatic
grid assignment and routing, the state machine with deadlines and escalation,
duplicate suggestions and the figures reported upward."""
