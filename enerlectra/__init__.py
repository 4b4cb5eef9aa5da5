"""Code shared by the cluster gateway (`edge`) and the cloud (`cloud`): imported, never copied."""
