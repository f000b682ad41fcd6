from hub_core.cli.main import main

if __name__ == "__main__":
    main()
