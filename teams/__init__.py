"""Teams: who may see and change which clusters."""
