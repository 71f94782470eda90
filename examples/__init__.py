"""Example agents that gate their tools through Countersign from outside its worker."""
