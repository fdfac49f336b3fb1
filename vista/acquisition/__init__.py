"""Lab sessions: trackers, stimulus display, audio, transcription, the session loop."""
