"""Emergency response: responders' positions, the nearest available in metres, roll call, what is around an incident."""
