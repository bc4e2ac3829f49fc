global using Xunit;
global using FerEngine.Tensors;
