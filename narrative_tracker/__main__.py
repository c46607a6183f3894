from narrative_tracker.cli import main

main()
