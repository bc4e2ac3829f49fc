global using FerEngine.Tensors;
global using FerEngine.CommandLine;
