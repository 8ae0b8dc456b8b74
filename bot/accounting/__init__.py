"""What model calls use and cost: token counts and dollar prices, plain values every layer
may share (the model client counts them, the store keeps them, commands add them up)."""
