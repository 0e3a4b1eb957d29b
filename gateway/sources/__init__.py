"""Where meter readings come from. Each source gives the bridge the same reading snapshot."""
